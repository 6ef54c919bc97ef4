import type { Migration } from "../../migrate.js";

/**
 * Migration 11 for either store: how far the audit log's key index (`audit_entry_ids`, migration
 * 9) reaches, apart from the integrated tree's size. The integrator writes that index in runs of
 * thousands of entries, or when the log is idle, rather than in every integration step: each step
 * dirtied about one index page per distinct key it covered, ten times a second under load, and
 * the pages it wrote slowed every other write. Queries read the index below this size and scan the
 * entries past it (store/sql/audit.ts). It starts at the tree's size, which 009 indexed.
 *
 * @example
 * export const migration = auditIndexedSizeMigration("sqlite");
 */
export function auditIndexedSizeMigration(dialect: "sqlite" | "postgres"): Migration {
  return {
    version: 11,
    name: "audit_indexed_size",
    statements: [
      `ALTER TABLE audit_tree_state ADD COLUMN indexed_size ${dialect === "sqlite" ? "INTEGER" : "BIGINT"} NOT NULL DEFAULT 0`,
      "UPDATE audit_tree_state SET indexed_size = size",
    ],
  };
}
