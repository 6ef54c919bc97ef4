/**
 * SQL implementation of {@link AgentStore}.
 *
 * @example
 * const agents = new SqlAgentStore({ db, dialect: "sqlite" });
 * await agents.create(agent, [key]);
 */
import { type Selectable, sql } from "kysely";
import { type AgentStore, type Page, type PageRequest, StoreConflictError } from "../index.js";
import type { AgentKeysTable, AgentsTable } from "../schema.js";
import type { AgentCeiling, AgentKeyRecord, AgentRecord, AgentStatus, VerifiedProvenance } from "../types.js";
import {
  affected,
  atomic,
  chunks,
  fetchPage,
  fromJson,
  fromJsonOrNull,
  insertUnique,
  type SqlContext,
  toJson,
} from "./context.js";

export class SqlAgentStore implements AgentStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(a: AgentRecord, keys: AgentKeyRecord[], claimCodeHash?: string): Promise<void> {
    const row = {
      id: a.id,
      principal_id: a.principalId,
      parent_id: a.parentId,
      chain: toJson(a.chain),
      name: a.name,
      description: a.description,
      status: a.status,
      provenance: a.provenance === null ? null : toJson(a.provenance),
      created_at: a.createdAt,
      revoked_at: a.revokedAt,
      revoke_reason: a.revokeReason,
      enrollment_id: a.enrollmentId,
      ceiling: a.ceiling === null ? null : toJson(a.ceiling),
      provenance_verified: a.verifiedProvenance === null ? null : toJson(a.verifiedProvenance),
      temporary_until: a.temporaryUntil,
      claim_code_hash: claimCodeHash ?? null,
      claimed_at: a.claimedAt,
    };
    // Checked up front so that, once the agent row is in, the key insert cannot conflict: a caller's
    // transaction that catches the conflict is then never left holding a half-created agent.
    if (keys.some((k) => k.agentId !== a.id)) throw new Error("agent key belongs to another agent");
    if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new StoreConflictError("agent key");
    if (keys.length === 0) {
      await insertUnique("agent", this.ctx.db.insertInto("agents").values(row));
      return;
    }
    await atomic(this.ctx.db, async (db) => {
      await insertUnique("agent", db.insertInto("agents").values(row));
      await insertUnique("agent key", db.insertInto("agent_keys").values(keys.map(toKeyRow)), keys.length);
    });
  }

  async get(id: string): Promise<AgentRecord | null> {
    const { rows } = await sql<Selectable<AgentsTable>>`SELECT * FROM agents WHERE id = ${id}`.execute(
      this.ctx.db,
    );
    return rows[0] ? toAgent(rows[0]) : null;
  }

  list(
    filter: {
      principalId?: string | undefined;
      status?: AgentStatus | undefined;
      parentId?: string | undefined;
    },
    page: PageRequest,
  ): Promise<Page<AgentRecord>> {
    let q = this.ctx.db.selectFrom("agents").selectAll();
    if (filter.principalId !== undefined) q = q.where("principal_id", "=", filter.principalId);
    if (filter.parentId !== undefined) q = q.where("parent_id", "=", filter.parentId);
    if (filter.status !== undefined) q = q.where("status", "=", filter.status);
    return fetchPage(q, page, toAgent);
  }

  async descendants(id: string): Promise<string[]> {
    // UNION (not UNION ALL) also stops on a corrupt cycle.
    const r = await sql<{ id: string }>`
      WITH RECURSIVE d(id) AS (
        SELECT id FROM agents WHERE parent_id = ${id}
        UNION
        SELECT a.id FROM agents a JOIN d ON a.parent_id = d.id
      )
      SELECT id FROM d`.execute(this.ctx.db);
    return r.rows.map((x) => x.id);
  }

  async idsByEnrollment(enrollmentId: string): Promise<string[]> {
    const rows = await this.ctx.db
      .selectFrom("agents")
      .select("id")
      .where("enrollment_id", "=", enrollmentId)
      .execute();
    return rows.map((x) => x.id);
  }

  async getByClaimCodeHash(hash: string): Promise<AgentRecord | null> {
    const { rows } = await sql<Selectable<AgentsTable>>`
      SELECT * FROM agents WHERE claim_code_hash = ${hash}`.execute(this.ctx.db);
    return rows[0] ? toAgent(rows[0]) : null;
  }

  claim(agentId: string, principalId: string, now: number): Promise<boolean> {
    return atomic(this.ctx.db, async (db) => {
      // One conditional UPDATE decides the race: on PostgreSQL a second claimer waits for the
      // row lock, then re-checks `claimed_at IS NULL` (READ COMMITTED) and updates nothing.
      const before = await db
        .selectFrom("agents")
        .select("principal_id")
        .where("id", "=", agentId)
        .executeTakeFirst();
      const r = await db
        .updateTable("agents")
        .set({ principal_id: principalId, claimed_at: now, temporary_until: null, ceiling: null })
        .where("id", "=", agentId)
        .where("claimed_at", "is", null)
        .where("status", "=", "active")
        .where("temporary_until", ">", now)
        .executeTakeFirst();
      if (affected(r.numUpdatedRows) === 0 || !before) return false;
      await db
        .updateTable("grants")
        .set({ principal_id: principalId })
        .where("agent_id", "=", agentId)
        .execute();
      await db
        .insertInto("agent_claims")
        .values({
          agent_id: agentId,
          principal_id: principalId,
          from_principal: before.principal_id,
          claimed_at: now,
        })
        .execute();
      return true;
    });
  }

  async expiredTemporary(now: number, limit: number): Promise<string[]> {
    const rows = await this.ctx.db
      .selectFrom("agents")
      .select("id")
      .where("temporary_until", "<=", now)
      .where("claimed_at", "is", null)
      .orderBy("temporary_until")
      .limit(limit)
      .execute();
    return rows.map((x) => x.id);
  }

  async removeTemporary(ids: string[], now: number): Promise<string[]> {
    const removed: string[] = [];
    for (const part of chunks(ids)) {
      // A conditional UPDATE, not a blind one: on PostgreSQL (READ COMMITTED) a claim may have
      // committed since expiredTemporary read these ids; the WHERE is re-evaluated on each locked
      // row, so a claimed agent (temporary_until NULL, claimed_at set) is not taken.
      const rows = await this.ctx.db
        .updateTable("agents")
        .set({ temporary_until: null })
        .where("id", "in", part)
        .where("temporary_until", "<=", now)
        .where("claimed_at", "is", null)
        .returning("id")
        .execute();
      const taken = rows.map((r) => r.id);
      if (taken.length > 0)
        await this.ctx.db.deleteFrom("agent_keys").where("agent_id", "in", taken).execute();
      removed.push(...taken);
    }
    return removed;
  }

  async idsByPrincipal(principalId: string): Promise<string[]> {
    const rows = await this.ctx.db
      .selectFrom("agents")
      .select("id")
      .where("principal_id", "=", principalId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map((x) => x.id);
  }

  async revoke(ids: string[], at: number, reason: string | null): Promise<string[]> {
    const changed: string[] = [];
    for (const part of chunks(ids)) {
      const rows = await this.ctx.db
        .updateTable("agents")
        .set({ status: "revoked", revoked_at: at, revoke_reason: reason })
        .where("id", "in", part)
        .where("revoked_at", "is", null)
        .returning("id")
        .execute();
      for (const r of rows) changed.push(r.id);
    }
    return changed;
  }

  async keys(agentId: string): Promise<AgentKeyRecord[]> {
    const { rows } = await sql<Selectable<AgentKeysTable>>`
      SELECT * FROM agent_keys WHERE agent_id = ${agentId} AND removed_at IS NULL
      ORDER BY created_at, kid`.execute(this.ctx.db);
    return rows.map(toKey);
  }

  async key(agentId: string, kid: string): Promise<AgentKeyRecord | null> {
    const { rows } = await sql<Selectable<AgentKeysTable>>`
      SELECT * FROM agent_keys WHERE agent_id = ${agentId} AND kid = ${kid} AND removed_at IS NULL`.execute(
      this.ctx.db,
    );
    return rows[0] ? toKey(rows[0]) : null;
  }

  async addKey(k: AgentKeyRecord): Promise<void> {
    await insertUnique("agent key", this.ctx.db.insertInto("agent_keys").values(toKeyRow(k)));
  }

  async removeKey(agentId: string, kid: string, at: number): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("agent_keys")
      .set({ removed_at: at })
      .where("agent_id", "=", agentId)
      .where("kid", "=", kid)
      .where("removed_at", "is", null)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }
}

function toAgent(r: Selectable<AgentsTable>): AgentRecord {
  return {
    id: r.id,
    principalId: r.principal_id,
    parentId: r.parent_id,
    chain: fromJson<string[]>(r.chain),
    name: r.name,
    description: r.description,
    status: r.status as AgentStatus,
    provenance: fromJsonOrNull<Record<string, unknown>>(r.provenance),
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    revokeReason: r.revoke_reason,
    enrollmentId: r.enrollment_id,
    ceiling: fromJsonOrNull<AgentCeiling>(r.ceiling),
    verifiedProvenance: verifiedOf(r.provenance_verified),
    temporaryUntil: r.temporary_until === null ? null : Number(r.temporary_until),
    claimedAt: r.claimed_at === null ? null : Number(r.claimed_at),
  };
}

/** Statements verified before key binding existed (migration 006) were all unbound. */
function verifiedOf(text: string | null): VerifiedProvenance | null {
  const v = fromJsonOrNull<Omit<VerifiedProvenance, "bound"> & { bound?: boolean }>(text);
  return v === null ? null : { ...v, bound: v.bound ?? false };
}

function toKeyRow(k: AgentKeyRecord): Selectable<AgentKeysTable> {
  return {
    agent_id: k.agentId,
    kid: k.kid,
    jwk: toJson(k.jwk),
    alg: k.alg,
    created_at: k.createdAt,
    removed_at: k.removedAt,
  };
}

function toKey(r: Selectable<AgentKeysTable>): AgentKeyRecord {
  return {
    agentId: r.agent_id,
    kid: r.kid,
    jwk: fromJson<Record<string, unknown>>(r.jwk),
    alg: r.alg as AgentKeyRecord["alg"],
    createdAt: r.created_at,
    removedAt: r.removed_at,
  };
}
