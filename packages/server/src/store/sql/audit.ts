/**
 * SQL implementation of {@link AuditStore}: an append-only log whose dense indexes come from a
 * single-row head that every append locks (row lock on PostgreSQL, the write lock on SQLite).
 *
 * @example
 * const index = await new SqlAuditStore(ctx).append(fields, (i) => canonicalize({ ...fields, index: i }));
 */
import type { Kysely, Selectable } from "kysely";
import type { AuditStore, Page } from "../index.js";
import type { AuditLogTable, Database } from "../schema.js";
import type { AuditRecord } from "../types.js";
import { atomic, fromJson, type SqlContext, toJson } from "./context.js";

export class SqlAuditStore implements AuditStore {
  constructor(private readonly ctx: SqlContext) {}

  append(fields: Omit<AuditRecord, "index" | "entry">, build: (index: number) => string): Promise<number> {
    return atomic(this.ctx.db, async (db) => {
      const head = await db
        .updateTable("audit_head")
        .set((eb) => ({ size: eb("size", "+", 1) }))
        .where("id", "=", 1)
        .returning("size")
        .executeTakeFirstOrThrow();
      const index = Number(head.size) - 1;
      let entry: string;
      try {
        entry = build(index);
      } catch (err) {
        // The caller's transaction may survive this throw; don't leave a hole in the index space.
        await this.#unbump(db);
        throw err;
      }
      try {
        await db
          .insertInto("audit_log")
          .values({
            idx: index,
            at: fields.at,
            action: fields.action,
            decision: fields.decision,
            actor_agent: fields.actorAgent,
            actor_chain: toJson(fields.actorChain),
            actor_principal: fields.actorPrincipal,
            target: fields.target,
            resource: fields.resource,
            token_id: fields.tokenId,
            grant_id: fields.grantId,
            entry,
          })
          .execute();
      } catch (err) {
        // A failed statement aborts the whole PostgreSQL transaction, but SQLite only undoes the statement.
        if (this.ctx.dialect === "sqlite") await this.#unbump(db);
        throw err;
      }
      return index;
    });
  }

  async get(index: number): Promise<AuditRecord | null> {
    const row = await this.ctx.db.selectFrom("audit_log").selectAll().where("idx", "=", index).executeTakeFirst();
    return row ? toAudit(row) : null;
  }

  async size(): Promise<number> {
    const row = await this.ctx.db
      .selectFrom("audit_head")
      .select("size")
      .where("id", "=", 1)
      .executeTakeFirstOrThrow();
    return Number(row.size);
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

  async #unbump(db: Kysely<Database>): Promise<void> {
    await db
      .updateTable("audit_head")
      .set((eb) => ({ size: eb("size", "-", 1) }))
      .where("id", "=", 1)
      .execute();
  }
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
