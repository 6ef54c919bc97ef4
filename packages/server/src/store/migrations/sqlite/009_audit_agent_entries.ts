import type { Migration } from "../../migrate.js";

/**
 * The audit log's agent index, written by the integrator (SQLite): `audit_agent_entries` holds
 * (agent, index) for every entry of the integrated tree that names an acting agent, inserted by
 * the integrating transaction in key order, so that a batch of thousands of entries touches about
 * one page per agent. It replaces `audit_agent_idx`, which every append updated in place: with
 * entries spread over many agents each append dirtied a page of it of its own, which cost SQLite
 * about a quarter of its append rate (docs/benchmarks.md, "Ledger"). Queries for an agent read this table below the tree size and scan the
 * entries past it (store/sql/audit.ts). The backfill indexes what is integrated already.
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…008, then this
 */
export const migration: Migration = {
  version: 9,
  name: "audit_agent_entries",
  statements: [
    `CREATE TABLE audit_agent_entries (
      agent TEXT NOT NULL,
      idx INTEGER NOT NULL,
      PRIMARY KEY (agent, idx)
    ) WITHOUT ROWID`,
    `INSERT INTO audit_agent_entries (agent, idx)
      SELECT actor_agent, idx FROM audit_log
      WHERE actor_agent IS NOT NULL AND idx < (SELECT size FROM audit_tree_state WHERE id = 1)
      ORDER BY actor_agent, idx`,
    "DROP INDEX audit_agent_idx",
  ],
};
