import type { Migration } from "../../migrate.js";

/**
 * The audit ledger on SQLite: the Merkle tree over `audit_log` (RFC 9162 §2.1), its signed
 * checkpoints (C2SP tlog-checkpoint), the log's own signing key, and the indexes that make every
 * `GET /v1/audit/events` filter an index range scan.
 *
 * - `audit_tree_state`: one row, the integrated tree (size, root), locked by the integrator.
 * - `audit_tree_nodes`: node (level, idx) = MTH of leaves [idx·2^level, (idx+1)·2^level); level 0
 *   holds the leaf hashes. About two rows per entry; every proof is O(log n) point reads.
 * - `audit_checkpoints`: signed notes by tree size.
 * - `audit_log_key`: one row, the Ed25519 log key, private half sealed with the master key.
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001 then this
 */
export const migration: Migration = {
  version: 2,
  name: "audit_ledger",
  statements: [
    `CREATE TABLE audit_tree_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      size INTEGER NOT NULL,
      root BLOB NOT NULL,
      updated_at INTEGER NOT NULL
    )`,
    // RFC 9162 §2.1.1: the root of the empty tree is SHA-256 of the empty string.
    "INSERT INTO audit_tree_state (id, size, root, updated_at) VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0)",
    `CREATE TABLE audit_tree_nodes (
      level INTEGER NOT NULL,
      idx INTEGER NOT NULL,
      hash BLOB NOT NULL,
      PRIMARY KEY (level, idx)
    ) WITHOUT ROWID`,
    `CREATE TABLE audit_checkpoints (
      size INTEGER PRIMARY KEY,
      root BLOB NOT NULL,
      note TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`,
    `CREATE TABLE audit_log_key (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      name TEXT NOT NULL,
      public_key BLOB NOT NULL,
      private_key_enc TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`,
    // Event filters (agent, principal and token already have theirs): each is (column, idx) so a
    // filtered page is one range scan in index order, whatever the cursor.
    "CREATE INDEX audit_action_idx ON audit_log (action, idx)",
    // Partial: most entries are "allowed", and their appends then skip this index; a query for
    // denied or info entries repeats the predicate so the planner can use it.
    "CREATE INDEX audit_decision_idx ON audit_log (decision, idx) WHERE decision <> 'allowed'",
    // Partial: most entries name no resource, and their appends then skip this index.
    "CREATE INDEX audit_resource_idx ON audit_log (resource, idx) WHERE resource IS NOT NULL",
  ],
};
