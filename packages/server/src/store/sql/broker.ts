/**
 * SQL implementation of {@link BrokerStore}: vault keys, connections, approvals and call budgets.
 * Every check-and-set is one conditional UPDATE, so the row lock (PostgreSQL) or the write lock
 * (SQLite) makes it atomic without a read-modify-write race.
 *
 * @example
 * const ok = await new SqlBrokerStore(ctx).consumeApproval("apv_…", Date.now());
 */
import { type Selectable, sql } from "kysely";
import type { BrokerStore, Page, PageRequest } from "../index.js";
import type { ApprovalsTable, ConnectionsTable, VaultKeysTable } from "../schema.js";
import type {
  ApprovalRecord,
  ApprovalStatus,
  ConnectionAuthType,
  ConnectionRecord,
  ConnectionRule,
  SealedSecret,
  VaultKeyRecord,
} from "../types.js";
import {
  affected,
  fetchPage,
  fromJson,
  fromJsonOrNull,
  insertUnique,
  isForeignKeyViolation,
  type SqlContext,
  toJson,
} from "./context.js";

export class SqlBrokerStore implements BrokerStore {
  constructor(private readonly ctx: SqlContext) {}

  async activeVaultKey(): Promise<VaultKeyRecord | null> {
    const row = await this.ctx.db
      .selectFrom("vault_keys")
      .selectAll()
      .where("status", "=", "active")
      .executeTakeFirst();
    return row ? toVaultKey(row) : null;
  }

  async vaultKeys(): Promise<VaultKeyRecord[]> {
    const rows = await this.ctx.db.selectFrom("vault_keys").selectAll().orderBy("created_at").execute();
    return rows.map(toVaultKey);
  }

  async addVaultKey(key: VaultKeyRecord): Promise<void> {
    await this.ctx.db
      .updateTable("vault_keys")
      .set({ status: "retired", retired_at: key.createdAt })
      .where("status", "=", "active")
      .execute();
    await insertUnique(
      "vault key",
      this.ctx.db.insertInto("vault_keys").values({
        id: key.id,
        sealed: key.sealed,
        status: "active",
        created_at: key.createdAt,
        retired_at: null,
      }),
    );
  }

  async dropVaultKey(id: string): Promise<boolean> {
    try {
      const r = await sql`DELETE FROM vault_keys WHERE id = ${id} AND status = 'retired'
        AND NOT EXISTS (SELECT 1 FROM connections WHERE secret_kek_id = ${id})`.execute(this.ctx.db);
      return affected(r.numAffectedRows) > 0;
    } catch (err) {
      // PostgreSQL (READ COMMITTED): NOT EXISTS cannot see a connection inserted by a transaction
      // still in flight; that insert's foreign-key lock makes the DELETE wait, and its commit then
      // fails the DELETE. The key is in use after all: keep it (the next rotation drops it).
      if (isForeignKeyViolation(err)) return false;
      throw err;
    }
  }

  async connectionsWrappedBy(keyId: string, limit: number): Promise<ConnectionRecord[]> {
    const rows = await this.ctx.db
      .selectFrom("connections")
      .selectAll()
      .where("secret_kek_id", "=", keyId)
      .orderBy("id")
      .limit(limit)
      .execute();
    return rows.map(toConnection);
  }

  async rewrapSecret(
    connectionId: string,
    fromKeyId: string,
    wrappedKey: string,
    keyId: string,
  ): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("connections")
      .set({ secret_dek: wrappedKey, secret_kek_id: keyId })
      .where("id", "=", connectionId)
      .where("secret_kek_id", "=", fromKeyId)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }

  async createConnection(c: ConnectionRecord): Promise<void> {
    await insertUnique(
      "connection",
      this.ctx.db.insertInto("connections").values({
        id: c.id,
        name: c.name,
        upstream: c.upstream,
        audience: c.audience,
        resource_id: c.resourceId,
        auth_type: c.authType,
        auth_name: c.authName,
        rules: toJson(c.rules),
        secret_ct: c.secret.ciphertext,
        secret_dek: c.secret.wrappedKey,
        secret_kek_id: c.secret.keyId,
        secret_version: c.secretVersion,
        secret_rotated_at: c.secretRotatedAt,
        created_at: c.createdAt,
      }),
    );
  }

  async getConnection(id: string): Promise<ConnectionRecord | null> {
    const row = await this.ctx.db
      .selectFrom("connections")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    return row ? toConnection(row) : null;
  }

  async getConnectionByName(name: string): Promise<ConnectionRecord | null> {
    const row = await this.ctx.db
      .selectFrom("connections")
      .selectAll()
      .where("name", "=", name)
      .executeTakeFirst();
    return row ? toConnection(row) : null;
  }

  listConnections(page: PageRequest): Promise<Page<ConnectionRecord>> {
    return fetchPage(this.ctx.db.selectFrom("connections").selectAll(), page, toConnection);
  }

  async rotateConnectionSecret(id: string, secret: SealedSecret, at: number): Promise<number | null> {
    const row = await this.ctx.db
      .updateTable("connections")
      .set({
        secret_ct: secret.ciphertext,
        secret_dek: secret.wrappedKey,
        secret_kek_id: secret.keyId,
        secret_version: sql<number>`secret_version + 1`,
        secret_rotated_at: at,
      })
      .where("id", "=", id)
      .returning("secret_version")
      .executeTakeFirst();
    return row ? Number(row.secret_version) : null;
  }

  async deleteConnection(id: string): Promise<boolean> {
    const r = await this.ctx.db.deleteFrom("connections").where("id", "=", id).executeTakeFirst();
    return affected(r.numDeletedRows) > 0;
  }

  async consumeCallBudget(grantId: string, maxCalls: number): Promise<boolean> {
    const r = await sql`UPDATE grants SET calls_made = calls_made + 1
      WHERE id = ${grantId} AND calls_made < ${maxCalls}`.execute(this.ctx.db);
    return affected(r.numAffectedRows) > 0;
  }

  async callsMade(grantId: string): Promise<number | null> {
    const { rows } = await sql<{ calls_made: number }>`
      SELECT calls_made FROM grants WHERE id = ${grantId}`.execute(this.ctx.db);
    return rows[0] ? Number(rows[0].calls_made) : null;
  }

  async refundCallBudget(grantId: string): Promise<void> {
    await sql`UPDATE grants SET calls_made = calls_made - 1 WHERE id = ${grantId} AND calls_made > 0`.execute(
      this.ctx.db,
    );
  }

  async createApproval(a: ApprovalRecord): Promise<void> {
    await insertUnique(
      "approval",
      this.ctx.db.insertInto("approvals").values({
        id: a.id,
        connection_id: a.connectionId,
        connection_name: a.connectionName,
        agent_id: a.agentId,
        chain: toJson(a.chain),
        principal_id: a.principalId,
        token_id: a.tokenId,
        grant_id: a.grantId,
        method: a.method,
        url: a.url,
        body_sha256: a.bodySha256,
        status: a.status,
        created_at: a.createdAt,
        expires_at: a.expiresAt,
        decided_at: a.decidedAt,
        decided_by: a.decidedBy === null ? null : toJson(a.decidedBy),
        reason: a.reason,
        receipt: a.receipt,
        used_at: a.usedAt,
      }),
    );
  }

  async getApproval(id: string): Promise<ApprovalRecord | null> {
    const row = await this.ctx.db.selectFrom("approvals").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toApproval(row) : null;
  }

  listApprovals(
    filter: { status?: ApprovalStatus | undefined; principalId?: string | undefined },
    page: PageRequest,
  ): Promise<Page<ApprovalRecord>> {
    let q = this.ctx.db.selectFrom("approvals").selectAll();
    if (filter.status !== undefined) q = q.where("status", "=", filter.status);
    if (filter.principalId !== undefined) q = q.where("principal_id", "=", filter.principalId);
    return fetchPage(q, page, toApproval);
  }

  async decideApproval(
    id: string,
    d: {
      status: "approved" | "denied";
      at: number;
      by: Record<string, unknown>;
      reason: string | null;
      receipt: string;
    },
  ): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("approvals")
      .set({
        status: d.status,
        decided_at: d.at,
        decided_by: toJson(d.by),
        reason: d.reason,
        receipt: d.receipt,
      })
      .where("id", "=", id)
      .where("status", "=", "pending")
      .where("expires_at", ">", d.at)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }

  async restoreApproval(id: string): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("approvals")
      .set({ status: "approved", used_at: null })
      .where("id", "=", id)
      .where("status", "=", "used")
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }

  async consumeApproval(id: string, at: number): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("approvals")
      .set({ status: "used", used_at: at })
      .where("id", "=", id)
      .where("status", "=", "approved")
      .where("expires_at", ">", at)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }
}

function toVaultKey(r: Selectable<VaultKeysTable>): VaultKeyRecord {
  return {
    id: r.id,
    sealed: r.sealed,
    status: r.status as VaultKeyRecord["status"],
    createdAt: r.created_at,
    retiredAt: r.retired_at,
  };
}

function toConnection(r: Selectable<ConnectionsTable>): ConnectionRecord {
  return {
    id: r.id,
    name: r.name,
    upstream: r.upstream,
    audience: r.audience,
    resourceId: r.resource_id,
    authType: r.auth_type as ConnectionAuthType,
    authName: r.auth_name,
    rules: fromJson<ConnectionRule[]>(r.rules),
    secret: { ciphertext: r.secret_ct, wrappedKey: r.secret_dek, keyId: r.secret_kek_id },
    secretVersion: Number(r.secret_version),
    secretRotatedAt: r.secret_rotated_at,
    createdAt: r.created_at,
  };
}

function toApproval(r: Selectable<ApprovalsTable>): ApprovalRecord {
  return {
    id: r.id,
    connectionId: r.connection_id,
    connectionName: r.connection_name,
    agentId: r.agent_id,
    chain: fromJson<string[]>(r.chain),
    principalId: r.principal_id,
    tokenId: r.token_id,
    grantId: r.grant_id,
    method: r.method,
    url: r.url,
    bodySha256: r.body_sha256,
    status: r.status as ApprovalStatus,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    decidedAt: r.decided_at,
    decidedBy: fromJsonOrNull<Record<string, unknown>>(r.decided_by),
    reason: r.reason,
    receipt: r.receipt,
    usedAt: r.used_at,
  };
}
