/**
 * Schema migrations: numbered per dialect, recorded in `schema_migrations(version, applied_at)`,
 * each applied in its own transaction. Safe when several processes start at once: PostgreSQL
 * serialises on a transaction-scoped advisory lock (per schema), SQLite on `BEGIN IMMEDIATE`.
 *
 * @example
 * await migrate(db, "postgres"); // no-op when up to date
 */
import { type Kysely, sql } from "kysely";
import { migration as postgres001 } from "./migrations/postgres/001_init.js";
import { migration as postgres002 } from "./migrations/postgres/002_audit_ledger.js";
import { migration as postgres003 } from "./migrations/postgres/003_revocation_events.js";
import { migration as postgres004 } from "./migrations/postgres/004_broker.js";
import { migration as postgres005 } from "./migrations/postgres/005_provisioning.js";
import { migration as postgres006 } from "./migrations/postgres/006_statement_binding.js";
import { migration as postgres007 } from "./migrations/postgres/007_unbound_provenance.js";
import { migration as postgres008 } from "./migrations/postgres/008_audit_tree_format.js";
import { migration as postgres009 } from "./migrations/postgres/009_audit_entry_ids.js";
import { migration as postgres010 } from "./migrations/postgres/010_token_state_version.js";
import { migration as postgres011 } from "./migrations/postgres/011_audit_indexed_size.js";
import { migration as postgres012 } from "./migrations/postgres/012_audit_entry_keys.js";
import { migration as sqlite001 } from "./migrations/sqlite/001_init.js";
import { migration as sqlite002 } from "./migrations/sqlite/002_audit_ledger.js";
import { migration as sqlite003 } from "./migrations/sqlite/003_revocation_events.js";
import { migration as sqlite004 } from "./migrations/sqlite/004_broker.js";
import { migration as sqlite005 } from "./migrations/sqlite/005_provisioning.js";
import { migration as sqlite006 } from "./migrations/sqlite/006_statement_binding.js";
import { migration as sqlite007 } from "./migrations/sqlite/007_unbound_provenance.js";
import { migration as sqlite008 } from "./migrations/sqlite/008_audit_tree_format.js";
import { migration as sqlite009 } from "./migrations/sqlite/009_audit_entry_ids.js";
import { migration as sqlite010 } from "./migrations/sqlite/010_token_state_version.js";
import { migration as sqlite011 } from "./migrations/sqlite/011_audit_indexed_size.js";
import { migration as sqlite012 } from "./migrations/sqlite/012_audit_entry_keys.js";
import type { Database } from "./schema.js";

/** One schema step: statements run in order, in one transaction. */
export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

/** Every migration of each dialect, in version order. */
export const MIGRATIONS: Record<"sqlite" | "postgres", readonly Migration[]> = {
  sqlite: [
    sqlite001,
    sqlite002,
    sqlite003,
    sqlite004,
    sqlite005,
    sqlite006,
    sqlite007,
    sqlite008,
    sqlite009,
    sqlite010,
    sqlite011,
    sqlite012,
  ],
  postgres: [
    postgres001,
    postgres002,
    postgres003,
    postgres004,
    postgres005,
    postgres006,
    postgres007,
    postgres008,
    postgres009,
    postgres010,
    postgres011,
    postgres012,
  ],
};

/**
 * Applies every pending migration of `dialect`, in version order; returns the versions applied.
 * Throws if the database was migrated by a newer Deputy (an unknown version is recorded).
 */
export async function migrate(
  db: Kysely<Database>,
  dialect: "sqlite" | "postgres",
  migrations: readonly Migration[] = MIGRATIONS[dialect],
): Promise<number[]> {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  const known = new Set(ordered.map((m) => m.version));
  const applied: number[] = [];
  for (;;) {
    const version = await db.transaction().execute(async (tx) => {
      if (dialect === "postgres") {
        await sql`SELECT pg_advisory_xact_lock(hashtext('deputy.migrate.' || coalesce(current_schema(), '')))`.execute(
          tx,
        );
      }
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        applied_at BIGINT NOT NULL
      )`.execute(tx);
      const done = new Set(
        (await tx.selectFrom("schema_migrations").select("version").execute()).map((r) => r.version),
      );
      const unknown = [...done].filter((v) => !known.has(v));
      if (unknown.length > 0) {
        throw new Error(
          `database has schema version(s) ${unknown.join(", ")} unknown to this Deputy; upgrade Deputy`,
        );
      }
      const next = ordered.find((m) => !done.has(m.version));
      if (!next) return null;
      for (const statement of next.statements) await sql.raw(statement).execute(tx);
      await tx
        .insertInto("schema_migrations")
        .values({ version: next.version, applied_at: Date.now() })
        .execute();
      return next.version;
    });
    if (version === null) return applied;
    applied.push(version);
  }
}
