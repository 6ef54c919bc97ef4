/**
 * Shared plumbing for the SQL store: the Kysely handle, conflict mapping, JSON columns,
 * IN-list chunking and keyset pagination.
 *
 * @example
 * await insertUnique("agent", ctx.db.insertInto("agents").values(row));
 */
import {
  type InsertQueryBuilder,
  type InsertResult,
  type Kysely,
  type SelectQueryBuilder,
  type SqlBool,
  sql,
} from "kysely";
import { type Page, type PageRequest, StoreConflictError } from "../index.js";
import type { Database } from "../schema.js";
import type { TokenCache } from "./token-cache.js";

/** What every domain store needs: the Kysely handle (root or transaction) and the dialect. */
export interface SqlContext {
  readonly db: Kysely<Database>;
  readonly dialect: "sqlite" | "postgres";
  /** PostgreSQL: how to open a dedicated connection for `LISTEN` (revocation events). */
  readonly listen?: PgListenTarget | undefined;
  /** SQLite, outside transactions: token records held while still current (sql/token-cache.ts). */
  readonly tokenCache?: TokenCache | undefined;
}

/** Where a dedicated PostgreSQL `LISTEN` connection goes: the store's URL and schema. */
export interface PgListenTarget {
  url: string;
  schema?: string | undefined;
}

/** Runs `fn` in a transaction, or inline when `db` already is one. */
export function atomic<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

/** True for a unique / primary-key violation on SQLite or PostgreSQL. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "23505";
}

/** True for a foreign-key violation on SQLite or PostgreSQL. */
export function isForeignKeyViolation(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_CONSTRAINT_FOREIGNKEY" || code === "23503";
}

/** Awaits `op`, turning a unique violation into {@link StoreConflictError}. */
export async function guardConflict<T>(entity: string, op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (isUniqueViolation(err)) throw new StoreConflictError(entity, { cause: err });
    throw err;
  }
}

/**
 * Inserts with `ON CONFLICT DO NOTHING` and throws {@link StoreConflictError} unless `expected`
 * rows went in. Unlike a unique-violation error, this leaves a surrounding PostgreSQL transaction
 * usable, so a caller that catches the conflict can carry on, as it can on SQLite.
 */
export async function insertUnique<T extends keyof Database>(
  entity: string,
  query: InsertQueryBuilder<Database, T, InsertResult>,
  expected = 1,
): Promise<void> {
  const [r] = await guardConflict(entity, query.onConflict((oc) => oc.doNothing()).execute());
  if (affected(r?.numInsertedOrUpdatedRows) < expected) throw new StoreConflictError(entity);
}

/** Throws {@link StoreConflictError} unless an `INSERT … ON CONFLICT DO NOTHING` inserted a row. */
export function assertInserted(entity: string, numAffectedRows: bigint | undefined): void {
  if (affected(numAffectedRows) < 1) throw new StoreConflictError(entity);
}

/** Keeps IN-lists far below SQLite's bound-variable limit. */
const CHUNK = 500;

/** Splits `items` (deduplicated) into IN-list sized chunks. */
export function chunks<T>(items: readonly T[]): T[][] {
  const unique = [...new Set(items)];
  const out: T[][] = [];
  for (let i = 0; i < unique.length; i += CHUNK) out.push(unique.slice(i, i + CHUNK));
  return out;
}

/** Serialises a JSON column. */
export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

/** Parses a JSON column (the store wrote it, so its shape is trusted). */
export function fromJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** Parses a nullable JSON column. */
export function fromJsonOrNull<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

/** A driver's affected-row count as a number (absent means none). */
export function affected(n: bigint | undefined): number {
  return Number(n ?? 0n);
}

type PagedTable =
  | "principals"
  | "agents"
  | "grants"
  | "resources"
  | "enrollments"
  | "provenance_issuers"
  | "connections"
  | "approvals";

/**
 * Applies keyset pagination on (created_at, id) and fetches one extra row for `hasMore`.
 * The row-value comparison is supported by both dialects and uses the (…, created_at, id) indexes.
 */
export async function fetchPage<T extends PagedTable, Row, Item>(
  query: SelectQueryBuilder<Database, T, Row>,
  page: PageRequest,
  map: (row: Row) => Item,
): Promise<Page<Item>> {
  const limit = Math.max(0, Math.floor(page.limit));
  let q = query;
  if (page.after) q = q.where(sql<SqlBool>`(created_at, id) > (${page.after.createdAt}, ${page.after.id})`);
  const rows = await q
    .orderBy(sql`created_at`)
    .orderBy(sql`id`)
    .limit(limit + 1)
    .execute();
  const hasMore = rows.length > limit;
  return { items: (hasMore ? rows.slice(0, limit) : rows).map(map), hasMore };
}
