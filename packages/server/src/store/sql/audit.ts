/**
 * SQL implementation of {@link AuditStore}: an append-only log with dense indexes. On PostgreSQL
 * every append locks a single-row head (`UPDATE audit_head … RETURNING`), which serialises
 * appends until the appending transaction ends. On SQLite writers are already serialised
 * (`BEGIN IMMEDIATE`), so the next index is simply `MAX(idx) + 1`.
 *
 * @example
 * const index = await new SqlAuditStore(ctx).append(fields, (i) => canonicalize({ ...fields, index: i }));
 */
import { type Kysely, type Selectable, sql } from "kysely";
import type { AuditStore, Page } from "../index.js";
import type { AuditLogTable, Database } from "../schema.js";
import type { AuditRecord } from "../types.js";
import { atomic, fromJson, type SqlContext, toJson } from "./context.js";

export class SqlAuditStore implements AuditStore {
  constructor(private readonly ctx: SqlContext) {}

  append(fields: Omit<AuditRecord, "index" | "entry">, build: (index: number) => string): Promise<number> {
    return atomic(this.ctx.db, async (db) => {
      const index = this.ctx.dialect === "postgres" ? await bumpHead(db) : await sqliteSize(db);
      let entry: string;
      try {
        entry = build(index);
      } catch (err) {
        // The caller's transaction may survive this throw; don't leave a hole in the index space.
        if (this.ctx.dialect === "postgres")
          await sql`UPDATE audit_head SET size = size - 1 WHERE id = 1`.execute(db);
        throw err;
      }
      await sql`INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain, actor_principal,
          target, resource, token_id, grant_id, entry)
        VALUES (${index}, ${fields.at}, ${fields.action}, ${fields.decision}, ${fields.actorAgent},
          ${toJson(fields.actorChain)}, ${fields.actorPrincipal}, ${fields.target}, ${fields.resource},
          ${fields.tokenId}, ${fields.grantId}, ${entry})`.execute(db);
      return index;
    });
  }

  async get(index: number): Promise<AuditRecord | null> {
    const { rows } = await sql<
      Selectable<AuditLogTable>
    >`SELECT * FROM audit_log WHERE idx = ${index}`.execute(this.ctx.db);
    return rows[0] ? toAudit(rows[0]) : null;
  }

  async size(): Promise<number> {
    if (this.ctx.dialect === "sqlite") return sqliteSize(this.ctx.db);
    const { rows } = await sql<{ size: number }>`SELECT size FROM audit_head WHERE id = 1`.execute(
      this.ctx.db,
    );
    return Number(rows[0]?.size ?? 0);
  }

  async query(
    filter: {
      agent?: string | undefined;
      principal?: string | undefined;
      action?: string | undefined;
      tokenId?: string | undefined;
      since?: number | undefined;
      until?: number | undefined;
    },
    page: { limit: number; afterIndex?: number | undefined },
  ): Promise<Page<AuditRecord>> {
    const limit = Math.max(0, Math.floor(page.limit));
    let q = this.ctx.db.selectFrom("audit_log").selectAll();
    if (filter.agent !== undefined) q = q.where("actor_agent", "=", filter.agent);
    if (filter.principal !== undefined) q = q.where("actor_principal", "=", filter.principal);
    if (filter.action !== undefined) q = q.where("action", "=", filter.action);
    if (filter.tokenId !== undefined) q = q.where("token_id", "=", filter.tokenId);
    if (filter.since !== undefined) q = q.where("at", ">=", filter.since);
    if (filter.until !== undefined) q = q.where("at", "<=", filter.until);
    if (page.afterIndex !== undefined) q = q.where("idx", ">", page.afterIndex);
    const rows = await q
      .orderBy("idx")
      .limit(limit + 1)
      .execute();
    const hasMore = rows.length > limit;
    return { items: (hasMore ? rows.slice(0, limit) : rows).map(toAudit), hasMore };
  }
}

/** Locks the head row until the transaction ends and returns the index the new entry gets. */
async function bumpHead(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ size: number }>`
    UPDATE audit_head SET size = size + 1 WHERE id = 1 RETURNING size`.execute(db);
  return Number(rows[0]?.size) - 1;
}

async function sqliteSize(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM audit_log`.execute(
    db,
  );
  return Number(rows[0]?.n ?? 0);
}

function toAudit(r: Selectable<AuditLogTable>): AuditRecord {
  return {
    index: Number(r.idx),
    at: r.at,
    action: r.action,
    decision: r.decision as AuditRecord["decision"],
    actorAgent: r.actor_agent,
    actorChain: fromJson<string[]>(r.actor_chain),
    actorPrincipal: r.actor_principal,
    target: r.target,
    resource: r.resource,
    tokenId: r.token_id,
    grantId: r.grant_id,
    entry: r.entry,
  };
}
