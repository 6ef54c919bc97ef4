import type { Migration } from "../../migrate.js";

/** The kinds of key `audit_entry_ids` holds (see {@link auditEntryKeys}). */
export type AuditKeyKind = "agent" | "token" | "principal" | "action" | "resource" | "decision";

const KEY_SELECTS: Record<AuditKeyKind, string> = {
  agent: "SELECT actor_agent AS id, idx FROM audit_log WHERE actor_agent IS NOT NULL",
  token: "SELECT token_id AS id, idx FROM audit_log WHERE token_id IS NOT NULL",
  principal: "SELECT actor_principal AS id, idx FROM audit_log WHERE actor_principal IS NOT NULL",
  action: "SELECT 'action:' || action AS id, idx FROM audit_log WHERE action IS NOT NULL",
  resource: "SELECT 'resource:' || resource AS id, idx FROM audit_log WHERE resource IS NOT NULL",
  decision: "SELECT 'decision:' || decision AS id, idx FROM audit_log WHERE decision <> 'allowed'",
};

/**
 * The rows under which `audit_entry_ids` indexes the entries `range` selects (an SQL condition on
 * `idx`), one per key: the acting agent, the token and the principal (ids, whose prefixes keep
 * them apart), and `action:…`, `resource:…` and, for decisions other than "allowed",
 * `decision:…` (no id holds a colon). Sorted by key, so an insert walks the index one key at a
 * time; UNION, so an entry naming the same text twice gives one row. The integrator
 * (store/sql/audit-tree.ts) and migration 12 use this one text, so the index a database was
 * upgraded with and the one the integrator extends are the same; the query side is
 * `auditKey` in store/sql/audit.ts.
 *
 * @example
 * const rows = auditEntryKeys("idx >= 10 AND idx < 20");
 */
export function auditEntryKeys(range: string, kinds: readonly AuditKeyKind[] = ALL_KINDS): string {
  return `${kinds.map((k) => `${KEY_SELECTS[k]} AND ${range}`).join("\n      UNION ")}\n      ORDER BY 1, 2`;
}

const ALL_KINDS: readonly AuditKeyKind[] = ["agent", "token", "principal", "action", "resource", "decision"];

/** The keys each store indexes in `audit_entry_ids`; the rest are column indexes (see migration 12). */
export const AUDIT_KEY_KINDS: Record<"sqlite" | "postgres", readonly AuditKeyKind[]> = {
  sqlite: ALL_KINDS,
  postgres: ["agent", "token"],
};

/**
 * Migration 12. SQLite: the audit log's principal, action, resource and decision indexes move
 * into `audit_entry_ids` too, written by the integrator in runs (migrations 9 and 11). Every
 * append updated those four indexes in place, and SQLite's COMMIT writes each page it dirtied
 * whole; without them an append writes the log's own b-tree alone, and introspection (one entry
 * per call) served 1.19–1.21 times as many requests (docs/benchmarks.md). The backfill indexes the
 * entries the index already reaches (agents and tokens are there since migration 9).
 *
 * PostgreSQL keeps its four indexes (an empty migration, so both stores share version numbers):
 * there the appends got cheaper too, up to 33,000 entries a second, faster than the integrator
 * could index six keys for each, and checkpoints fell 1.6 s behind (one ledger benchmark run);
 * PostgreSQL maintains those indexes inside the append's own statement at little cost.
 *
 * @example
 * export const migration = auditEntryKeysMigration("sqlite");
 */
export function auditEntryKeysMigration(dialect: "sqlite" | "postgres"): Migration {
  if (dialect === "postgres") return { version: 12, name: "audit_entry_keys", statements: [] };
  return {
    version: 12,
    name: "audit_entry_keys",
    statements: [
      `INSERT INTO audit_entry_ids (id, idx)
      ${auditEntryKeys("idx < (SELECT indexed_size FROM audit_tree_state WHERE id = 1)", [
        "principal",
        "action",
        "resource",
        "decision",
      ])}`,
      "DROP INDEX audit_principal_idx",
      "DROP INDEX audit_action_idx",
      "DROP INDEX audit_decision_idx",
      "DROP INDEX audit_resource_idx",
    ],
  };
}
