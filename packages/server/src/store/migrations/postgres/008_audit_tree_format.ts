import type { Migration } from "../../migrate.js";

/**
 * Audit tree format 2 (PostgreSQL): the ledger stores the leaves and the subtrees of 16 or more leaves,
 * and folds levels 1–3 from the leaves when it needs them (audit/tree-nodes.ts). A Deputy from
 * before expects those rows and would take a tree extended by this version for a damaged one
 * (integration stopped, proofs answering 500); this version number is what keeps such a Deputy
 * from starting on the database ("unknown to this Deputy; upgrade Deputy"). No downgrade.
 *
 * @example
 * await migrate(db, "postgres"); // applies 001…007, then this
 */
export const migration: Migration = {
  version: 8,
  name: "audit_tree_format",
  statements: ["INSERT INTO deputy_settings (name, value) VALUES ('audit_tree_format', '2')"],
};
