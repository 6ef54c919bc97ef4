/**
 * SQL implementation of {@link GrantStore}.
 *
 * @example
 * const grants = new SqlGrantStore({ db, dialect: "postgres" });
 * if (!(await grants.consumeTokenBudget(grant.id, grant.constraints.max_tokens ?? null))) deny();
 */
import { type Selectable, sql } from "kysely";
import type { GrantStore, Page, PageRequest } from "../index.js";
import type { GrantsTable } from "../schema.js";
import type { GrantConstraints, GrantRecord, GrantStatus } from "../types.js";
import { affected, chunks, fetchPage, fromJson, insertUnique, type SqlContext, toJson } from "./context.js";

export class SqlGrantStore implements GrantStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(g: GrantRecord): Promise<void> {
    await insertUnique(
      "grant",
      this.ctx.db.insertInto("grants").values({
        id: g.id,
        agent_id: g.agentId,
        principal_id: g.principalId,
        parent_grant_id: g.parentGrantId,
        scopes: toJson(g.scopes),
        resources: toJson(g.resources),
        expires_at: g.expiresAt,
        max_delegation_depth: g.maxDelegationDepth,
        constraints: toJson(g.constraints),
        tokens_issued: g.tokensIssued,
        status: g.status,
        created_at: g.createdAt,
        revoked_at: g.revokedAt,
      }),
    );
  }

  async get(id: string): Promise<GrantRecord | null> {
    const { rows } = await sql<Selectable<GrantsTable>>`SELECT * FROM grants WHERE id = ${id}`.execute(
      this.ctx.db,
    );
    return rows[0] ? toGrant(rows[0]) : null;
  }

  list(
    filter: { agentId?: string | undefined; principalId?: string | undefined; status?: string | undefined },
    page: PageRequest,
  ): Promise<Page<GrantRecord>> {
    let q = this.ctx.db.selectFrom("grants").selectAll();
    if (filter.agentId !== undefined) q = q.where("agent_id", "=", filter.agentId);
    if (filter.principalId !== undefined) q = q.where("principal_id", "=", filter.principalId);
    if (filter.status !== undefined) q = q.where("status", "=", filter.status);
    return fetchPage(q, page, toGrant);
  }

  async activeForAgent(agentId: string, now: number): Promise<GrantRecord[]> {
    const { rows } = await sql<Selectable<GrantsTable>>`
      SELECT * FROM grants
      WHERE agent_id = ${agentId} AND status = 'active' AND expires_at > ${now}
      ORDER BY created_at, id`.execute(this.ctx.db);
    return rows.map(toGrant);
  }

  async descendants(id: string): Promise<string[]> {
    const r = await sql<{ id: string }>`
      WITH RECURSIVE d(id) AS (
        SELECT id FROM grants WHERE parent_grant_id = ${id}
        UNION
        SELECT g.id FROM grants g JOIN d ON g.parent_grant_id = d.id
      )
      SELECT id FROM d`.execute(this.ctx.db);
    return r.rows.map((x) => x.id);
  }

  async idsByAgents(agentIds: string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const part of chunks(agentIds)) {
      const rows = await this.ctx.db
        .selectFrom("grants")
        .select("id")
        .where("agent_id", "in", part)
        .execute();
      for (const r of rows) ids.push(r.id);
    }
    return ids;
  }

  async revoke(ids: string[], at: number): Promise<string[]> {
    const changed: string[] = [];
    for (const part of chunks(ids)) {
      const rows = await this.ctx.db
        .updateTable("grants")
        .set({ status: "revoked", revoked_at: at })
        .where("id", "in", part)
        .where("revoked_at", "is", null)
        .returning("id")
        .execute();
      for (const r of rows) changed.push(r.id);
    }
    return changed;
  }

  async consumeTokenBudget(id: string, maxTokens: number | null): Promise<boolean> {
    // One conditional UPDATE: the row lock (PG) / write lock (SQLite) makes check-and-increment atomic.
    const r =
      maxTokens === null
        ? await sql`UPDATE grants SET tokens_issued = tokens_issued + 1 WHERE id = ${id}`.execute(this.ctx.db)
        : await sql`UPDATE grants SET tokens_issued = tokens_issued + 1
            WHERE id = ${id} AND tokens_issued < ${maxTokens}`.execute(this.ctx.db);
    return affected(r.numAffectedRows) > 0;
  }
}

function toGrant(r: Selectable<GrantsTable>): GrantRecord {
  return {
    id: r.id,
    agentId: r.agent_id,
    principalId: r.principal_id,
    parentGrantId: r.parent_grant_id,
    scopes: fromJson<string[]>(r.scopes),
    resources: fromJson<string[]>(r.resources),
    expiresAt: r.expires_at,
    maxDelegationDepth: r.max_delegation_depth,
    constraints: fromJson<GrantConstraints>(r.constraints),
    tokensIssued: r.tokens_issued,
    status: r.status as GrantStatus,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}
