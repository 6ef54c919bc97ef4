/**
 * SQL implementation of {@link TokenStore}.
 *
 * @example
 * const tokens = new SqlTokenStore(ctx);
 * const statusIdx = await tokens.nextStatusIndex();
 */
import { type Selectable, sql } from "kysely";
import type { TokenStore } from "../index.js";
import type { TokensTable } from "../schema.js";
import type { TokenRecord } from "../types.js";
import { affected, chunks, guardConflict, type SqlContext } from "./context.js";

export class SqlTokenStore implements TokenStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(t: TokenRecord): Promise<void> {
    await guardConflict(
      "token",
      this.ctx.db
        .insertInto("tokens")
        .values({
          id: t.id,
          agent_id: t.agentId,
          principal_id: t.principalId,
          grant_id: t.grantId,
          audience: t.audience,
          scope: t.scope,
          jkt: t.jkt,
          status_idx: t.statusIdx,
          parent_token_id: t.parentTokenId,
          issued_at: t.issuedAt,
          expires_at: t.expiresAt,
          kid: t.kid,
          revoked_at: t.revokedAt,
        })
        .execute(),
    );
  }

  async get(id: string): Promise<TokenRecord | null> {
    const row = await this.ctx.db.selectFrom("tokens").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toToken(row) : null;
  }

  async nextStatusIndex(): Promise<number> {
    if (this.ctx.dialect === "postgres") {
      const r = await sql<{ v: number }>`SELECT nextval('token_status_idx_seq') AS v`.execute(this.ctx.db);
      return Number(r.rows[0]?.v);
    }
    // SQLite: the UPDATE takes the write lock, so concurrent callers serialise. Inside a transaction
    // that later rolls back the index is handed out again, but then no token ever carried it.
    const row = await this.ctx.db
      .updateTable("counters")
      .set((eb) => ({ value: eb("value", "+", 1) }))
      .where("name", "=", "status_idx")
      .returning("value")
      .executeTakeFirstOrThrow();
    return row.value - 1;
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("tokens")
      .set({ revoked_at: at })
      .where("id", "=", id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }

  async revokeByGrants(grantIds: string[], at: number): Promise<number> {
    let n = 0;
    for (const part of chunks(grantIds)) {
      const r = await this.ctx.db
        .updateTable("tokens")
        .set({ revoked_at: at })
        .where("grant_id", "in", part)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      n += affected(r.numUpdatedRows);
    }
    return n;
  }

  async revokeDescendants(id: string, at: number): Promise<number> {
    // Walks through already-revoked tokens too: their children may still be live.
    const r = await sql`
      WITH RECURSIVE d(id) AS (
        SELECT id FROM tokens WHERE parent_token_id = ${id}
        UNION
        SELECT t.id FROM tokens t JOIN d ON t.parent_token_id = d.id
      )
      UPDATE tokens SET revoked_at = ${at}
      WHERE id IN (SELECT id FROM d) AND revoked_at IS NULL`.execute(this.ctx.db);
    return affected(r.numAffectedRows);
  }

  async delegatedGrantIds(id: string): Promise<string[]> {
    const r = await sql<{ grant_id: string }>`
      WITH RECURSIVE d(id, grant_id) AS (
        SELECT id, grant_id FROM tokens WHERE parent_token_id = ${id}
        UNION
        SELECT t.id, t.grant_id FROM tokens t JOIN d ON t.parent_token_id = d.id
      )
      SELECT DISTINCT grant_id FROM d
      WHERE grant_id <> COALESCE((SELECT grant_id FROM tokens WHERE id = ${id}), '')
      ORDER BY grant_id`.execute(this.ctx.db);
    return r.rows.map((x) => x.grant_id);
  }

  async latestExpiryForKid(kid: string): Promise<number | null> {
    const row = await this.ctx.db
      .selectFrom("tokens")
      .select((eb) => eb.fn.max("expires_at").as("latest"))
      .where("kid", "=", kid)
      .executeTakeFirst();
    const latest = row?.latest;
    return latest === null || latest === undefined ? null : Number(latest);
  }
}

function toToken(r: Selectable<TokensTable>): TokenRecord {
  return {
    id: r.id,
    agentId: r.agent_id,
    principalId: r.principal_id,
    grantId: r.grant_id,
    audience: r.audience,
    scope: r.scope,
    jkt: r.jkt,
    statusIdx: r.status_idx,
    parentTokenId: r.parent_token_id,
    issuedAt: r.issued_at,
    expiresAt: r.expires_at,
    kid: r.kid,
    revokedAt: r.revoked_at,
  };
}
