import type { Migration } from "../../migrate.js";

/**
 * Migration 9 for either store: the audit log's agent and token indexes, written by the
 * integrator. `audit_entry_ids` holds (id, index) for the acting agent and the token that every
 * entry of the integrated tree names (ids carry their kind in their prefix, so one table serves
 * both), inserted by the integrating transaction in key order: a batch of thousands of entries
 * touches about one page per agent and per token. It replaces `audit_agent_idx` and
 * `audit_token_idx`, which every append updated in place: with entries spread over many agents and
 * tokens each append dirtied pages of its own in them, a large share of SQLite's cost per append
 * (docs/benchmarks.md, "Latest run"). Queries by agent or token read this table below the tree size
 * and scan the entries past it (store/sql/audit.ts). The backfill indexes what is integrated
 * already (about 1.1 s per million entries on SQLite, docs/audit.md). The two stores differ only
 * in the index column's type and SQLite's WITHOUT ROWID.
 *
 * @example
 * export const migration = auditEntryIdsMigration("sqlite");
 */
export function auditEntryIdsMigration(dialect: "sqlite" | "postgres"): Migration {
  const sqlite = dialect === "sqlite";
  return {
    version: 9,
    name: "audit_entry_ids",
    statements: [
      `CREATE TABLE audit_entry_ids (
        id TEXT NOT NULL,
        idx ${sqlite ? "INTEGER" : "BIGINT"} NOT NULL,
        PRIMARY KEY (id, idx)
      )${sqlite ? " WITHOUT ROWID" : ""}`,
      `INSERT INTO audit_entry_ids (id, idx)
        SELECT actor_agent, idx FROM audit_log
        WHERE actor_agent IS NOT NULL AND idx < (SELECT size FROM audit_tree_state WHERE id = 1)
        UNION
        SELECT token_id, idx FROM audit_log
        WHERE token_id IS NOT NULL AND idx < (SELECT size FROM audit_tree_state WHERE id = 1)
        ORDER BY 1, 2`,
      "DROP INDEX audit_agent_idx",
      "DROP INDEX audit_token_idx",
    ],
  };
}
