import type { Migration } from "../../migrate.js";

/**
 * How far the audit log's index of agent and token ids (`audit_entry_ids`, migration 009)
 * reaches, apart from the integrated tree's size: the integrator now writes that index in runs of
 * thousands of entries, or when the log is idle, rather than in every integration step. Each step
 * dirtied about one index page per distinct agent and token it covered, ten times a second under
 * load, and the pages it wrote slowed every other write. Queries read the index below this size
 * and scan the entries past it (store/sql/audit.ts). It starts at the tree's size, which 009 indexed.
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…010, then this
 */
export const migration: Migration = {
  version: 11,
  name: "audit_indexed_size",
  statements: [
    "ALTER TABLE audit_tree_state ADD COLUMN indexed_size INTEGER NOT NULL DEFAULT 0",
    "UPDATE audit_tree_state SET indexed_size = size",
  ],
};
