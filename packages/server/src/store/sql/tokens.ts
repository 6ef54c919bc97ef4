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
import type { RevokedTokenRef, TokenRecord } from "../types.js";
import { affected, assertInserted, chunks, guardConflict, type SqlContext } from "./context.js";

/** A token's stored state; its grant's revocation is the token's too (the cascade never rewrites tokens). */
const TOKEN_COLUMNS = sql.raw(`t.id, t.agent_id, t.principal_id, t.grant_id, t.audience, t.scope, t.jkt,
  t.status_idx, t.parent_token_id, t.issued_at, t.expires_at, t.kid,
  COALESCE(t.revoked_at, g.revoked_at) AS revoked_at`);

export class SqlTokenStore implements TokenStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(t: TokenRecord): Promise<void> {
    const r = await guardConflict(
      "token",
      sql`INSERT INTO tokens (id, agent_id, principal_id, grant_id, audience, scope, jkt, status_idx,
          parent_token_id, issued_at, expires_at, kid, revoked_at)
        VALUES (${t.id}, ${t.agentId}, ${t.principalId}, ${t.grantId}, ${t.audience}, ${t.scope}, ${t.jkt},
          ${t.statusIdx}, ${t.parentTokenId}, ${t.issuedAt}, ${t.expiresAt}, ${t.kid}, ${t.revokedAt})
        ON CONFLICT DO NOTHING`.execute(this.ctx.db),
    );
    assertInserted("token", r.numAffectedRows);
  }

  async get(id: string): Promise<TokenRecord | null> {
    const cache = this.ctx.db.isTransaction ? undefined : this.ctx.tokenCache;
    if (!cache) return this.#read(id);
    const held = await cache.get(id);
    if (held) return held;
    // The version in the same statement: the record and the version it is current at.
    const { rows } = await sql<Selectable<TokensTable> & { state_version: number }>`
      SELECT ${TOKEN_COLUMNS}, (SELECT version FROM token_state_version WHERE id = 1) AS state_version
      FROM tokens t JOIN grants g ON g.id = t.grant_id
      WHERE t.id = ${id}`.execute(this.ctx.db);
    const row = rows[0];
    if (!row) return null;
    const record = toToken(row);
    cache.put(record, row.state_version);
    return record;
  }

  async #read(id: string): Promise<TokenRecord | null> {
    const { rows } = await sql<Selectable<TokensTable>>`
      SELECT ${TOKEN_COLUMNS} FROM tokens t JOIN grants g ON g.id = t.grant_id
      WHERE t.id = ${id}`.execute(this.ctx.db);
    return rows[0] ? toToken(rows[0]) : null;
  }

  async nextStatusIndex(): Promise<number> {
    if (this.ctx.dialect === "postgres") {
      const r = await sql<{ v: number }>`SELECT nextval('token_status_idx_seq') AS v`.execute(this.ctx.db);
      return Number(r.rows[0]?.v);
    }
    // SQLite: the UPDATE takes the write lock, so concurrent callers serialise. Inside a transaction
    // that later rolls back the index is handed out again, but then no token ever carried it.
    const r = await sql<{ v: number }>`
      UPDATE counters SET value = value + 1 WHERE name = 'status_idx' RETURNING value - 1 AS v`.execute(
      this.ctx.db,
    );
    return Number(r.rows[0]?.v);
  }

  async reserveStatusIndexes(count: number): Promise<number[]> {
    const n = Math.max(1, Math.min(10_000, Math.floor(count)));
    if (this.ctx.dialect === "postgres") {
      const r = await sql<{
        v: number;
      }>`SELECT nextval('token_status_idx_seq') AS v FROM generate_series(1, ${n})`.execute(this.ctx.db);
      return r.rows.map((row) => Number(row.v));
    }
    const r = await sql<{ v: number }>`
      UPDATE counters SET value = value + ${n} WHERE name = 'status_idx' RETURNING value - ${n} AS v`.execute(
      this.ctx.db,
    );
    const first = Number(r.rows[0]?.v);
    return Array.from({ length: n }, (_, i) => first + i);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    // A token whose grant is revoked is revoked already (TokenStore.get): nothing changes then.
    const r = await sql`
      UPDATE tokens SET revoked_at = ${at}
      WHERE id = ${id} AND revoked_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = tokens.grant_id AND g.revoked_at IS NOT NULL)`.execute(
      this.ctx.db,
    );
    return affected(r.numAffectedRows) > 0;
  }

  async activeByGrants(grantIds: string[]): Promise<RevokedTokenRef[]> {
    const out: RevokedTokenRef[] = [];
    for (const part of chunks(grantIds)) {
      const rows = await this.ctx.db
        .selectFrom("tokens as t")
        .innerJoin("grants as g", "g.id", "t.grant_id")
        .select(["t.id", "t.expires_at"])
        .where("t.grant_id", "in", part)
        .where("t.revoked_at", "is", null)
        .where("g.revoked_at", "is", null)
        .execute();
      for (const r of rows) out.push(revokedRef(r));
    }
    return out;
  }

  async revokeDescendants(id: string, at: number): Promise<RevokedTokenRef[]> {
    // Walks through already-revoked tokens too: their children may still be live. The IS NOT NULL
    // lets PostgreSQL prove that the partial index on parent_token_id applies to the join.
    const r = await sql<{ id: string; expires_at: number }>`
      WITH RECURSIVE d(id) AS (
        SELECT id FROM tokens WHERE parent_token_id = ${id}
        UNION
        SELECT t.id FROM tokens t JOIN d ON t.parent_token_id = d.id AND t.parent_token_id IS NOT NULL
      )
      UPDATE tokens SET revoked_at = ${at}
      WHERE id IN (SELECT id FROM d) AND revoked_at IS NULL
      RETURNING id, expires_at`.execute(this.ctx.db);
    return r.rows.map(revokedRef);
  }

  async revokedStatusIndexes(from: number, to: number): Promise<number[]> {
    // A token is revoked on its own (revoked_at) or through its grant (TokenStore.get): one range
    // scan of tokens_status_idx (migration 003) over this list's tokens, each joined to its grant
    // by primary key. At most one list's worth of rows (65,536), and only when a list is rebuilt.
    const r = await sql<{ status_idx: number }>`
      SELECT t.status_idx FROM tokens t JOIN grants g ON g.id = t.grant_id
      WHERE t.status_idx >= ${from} AND t.status_idx < ${to}
        AND (t.revoked_at IS NOT NULL OR g.revoked_at IS NOT NULL)
      ORDER BY t.status_idx`.execute(this.ctx.db);
    return r.rows.map((row) => Number(row.status_idx));
  }

  async statusIndexHighWater(): Promise<number> {
    if (this.ctx.dialect === "postgres") {
      const r = await sql<{ last_value: number; is_called: boolean }>`
        SELECT last_value, is_called FROM token_status_idx_seq`.execute(this.ctx.db);
      const row = r.rows[0];
      return row ? Number(row.last_value) + (row.is_called ? 1 : 0) : 0;
    }
    const r = await sql<{ value: number }>`SELECT value FROM counters WHERE name = 'status_idx'`.execute(
      this.ctx.db,
    );
    return Number(r.rows[0]?.value ?? 0);
  }

  async delegatedGrantIds(id: string): Promise<string[]> {
    const r = await sql<{ grant_id: string }>`
      WITH RECURSIVE d(id, grant_id) AS (
        SELECT id, grant_id FROM tokens WHERE parent_token_id = ${id}
        UNION
        SELECT t.id, t.grant_id FROM tokens t JOIN d ON t.parent_token_id = d.id AND t.parent_token_id IS NOT NULL
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

/** Stored `expires_at` is epoch ms; the ref carries the token's `exp` claim (epoch seconds). */
function revokedRef(r: { id: string; expires_at: number }): RevokedTokenRef {
  return { id: r.id, exp: Math.ceil(Number(r.expires_at) / 1000) };
}
