import type { Migration } from "../../migrate.js";

/**
 * The audit ledger on PostgreSQL; same tables as the SQLite migration 002 (see there), with BYTEA
 * hashes and BIGINT sizes and indexes.
 *
 * @example
 * await migrate(db, "postgres"); // applies 001 then this
 */
export const migration: Migration = {
  version: 2,
  name: "audit_ledger",
  statements: [
    `CREATE TABLE audit_tree_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      size BIGINT NOT NULL,
      root BYTEA NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
    // RFC 9162 §2.1.1: the root of the empty tree is SHA-256 of the empty string.
    "INSERT INTO audit_tree_state (id, size, root, updated_at) VALUES (1, 0, '\\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea, 0)",
    `CREATE TABLE audit_tree_nodes (
      level SMALLINT NOT NULL,
      idx BIGINT NOT NULL,
      hash BYTEA NOT NULL,
      PRIMARY KEY (level, idx)
    )`,
    `CREATE TABLE audit_checkpoints (
      size BIGINT PRIMARY KEY,
      root BYTEA NOT NULL,
      note TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    `CREATE TABLE audit_log_key (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      name TEXT NOT NULL,
      public_key BYTEA NOT NULL,
      private_key_enc TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    "CREATE INDEX audit_action_idx ON audit_log (action, idx)",
    // Partial: most entries are "allowed", and their appends then skip this index; a query for
    // denied or info entries repeats the predicate so the planner can use it.
    "CREATE INDEX audit_decision_idx ON audit_log (decision, idx) WHERE decision <> 'allowed'",
    "CREATE INDEX audit_resource_idx ON audit_log (resource, idx) WHERE resource IS NOT NULL",
  ],
};
