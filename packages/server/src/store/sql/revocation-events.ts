/**
 * SQL implementation of {@link RevocationEventStore}. Ids come from the one-row
 * `revocation_event_head`, updated in the revocation's transaction: its lock (a row lock on
 * PostgreSQL, the database write lock on SQLite) is held until COMMIT, so ids are dense and
 * become visible in order. A BIGSERIAL would not do: sequence values are taken at INSERT and
 * transactions commit in any order (see docs/decisions.md).
 *
 * @example
 * const id = await tx.revocationEvents.append({ at, target, reason, cascade });
 * const next = await store.revocationEvents.after(id - 1, 100);
 */
import { sql } from "kysely";
import type { RevocationEventStore } from "../index.js";
import type { RevocationCascade, RevocationEventRecord } from "../types.js";
import { fromJson, type SqlContext, toJson } from "./context.js";
import { watchPostgres } from "./pg-listen.js";

/** The PostgreSQL notification channel; the payload is the schema (several may share a database). */
export const REVOCATION_CHANNEL = "deputy_revocations";

export class SqlRevocationEventStore implements RevocationEventStore {
  constructor(private readonly ctx: SqlContext) {}

  async append(event: Omit<RevocationEventRecord, "id">): Promise<number> {
    const db = this.ctx.db;
    const head = await sql<{ last_id: number }>`
      UPDATE revocation_event_head SET last_id = last_id + 1 WHERE id = 1 RETURNING last_id`.execute(db);
    const id = Number(head.rows[0]?.last_id);
    if (!Number.isSafeInteger(id) || id < 1)
      throw new Error("revocation_event_head is missing (migration 003)");
    await db
      .insertInto("revocation_events")
      .values({
        id,
        at: event.at,
        target: event.target,
        reason: event.reason,
        cascade: toJson(event.cascade),
      })
      .execute();
    // PostgreSQL queues the notification and delivers it at COMMIT (never for a rollback).
    if (this.ctx.dialect === "postgres") {
      await sql`SELECT pg_notify(${REVOCATION_CHANNEL}, current_schema())`.execute(db);
    }
    return id;
  }

  async after(afterId: number, limit: number): Promise<RevocationEventRecord[]> {
    const rows = await this.ctx.db
      .selectFrom("revocation_events")
      .selectAll()
      .where("id", ">", afterId)
      .orderBy("id")
      .limit(Math.max(1, Math.floor(limit)))
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      target: r.target,
      reason: r.reason,
      cascade: fromJson<RevocationCascade>(r.cascade),
    }));
  }

  async latestId(): Promise<number> {
    const row = await this.ctx.db
      .selectFrom("revocation_event_head")
      .select("last_id")
      .where("id", "=", 1)
      .executeTakeFirst();
    return Number(row?.last_id ?? 0);
  }

  async prune(before: number): Promise<number> {
    const db = this.ctx.db;
    const atOf = async (id: number): Promise<number | null> => {
      const row = await db
        .selectFrom("revocation_events")
        .select("at")
        .where("id", ">=", id)
        .orderBy("id")
        .limit(1)
        .executeTakeFirst();
      return row ? Number(row.at) : null;
    };
    const first = await db
      .selectFrom("revocation_events")
      .select(["id", "at"])
      .orderBy("id")
      .limit(1)
      .executeTakeFirst();
    if (!first || Number(first.at) >= before) return 0;
    // Binary search for the last event recorded before the cut: events are numbered in commit
    // order, so `at` rises with the id (within the length of one revocation transaction, which
    // the `at` filter on the DELETE covers).
    let lo = Number(first.id);
    let hi = await this.latestId();
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const at = await atOf(mid);
      if (at !== null && at < before) lo = mid;
      else hi = mid - 1;
    }
    const r = await db
      .deleteFrom("revocation_events")
      .where("id", "<=", lo)
      .where("at", "<", before)
      .executeTakeFirst();
    return Number(r.numDeletedRows ?? 0);
  }

  watch(
    onChange: () => void,
    options: { pollMs: number; onError?: (err: unknown) => void },
  ): () => Promise<void> {
    const onError = options.onError ?? (() => undefined);
    // SQLite: other processes on the same file are seen by polling the head row (one PK read).
    // PostgreSQL: LISTEN, plus the same poll at a tenth of the rate as a safety net against a
    // connection that died without telling us (a half-open TCP connection raises nothing).
    const pollMs = this.ctx.dialect === "postgres" ? options.pollMs * 10 : options.pollMs;
    let seen = -1;
    let polling = false;
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      this.latestId()
        .then((latest) => {
          if (latest !== seen) {
            seen = latest;
            onChange();
          }
        }, onError)
        .finally(() => {
          polling = false;
        });
    }, pollMs);
    timer.unref();
    const stopListening =
      this.ctx.dialect === "postgres" && this.ctx.listen
        ? watchPostgres(this.ctx.listen, REVOCATION_CHANNEL, onChange, onError)
        : async () => undefined;
    return async () => {
      clearInterval(timer);
      await stopListening();
    };
  }
}
