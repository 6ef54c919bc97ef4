import type { Migration } from "../../migrate.js";

/**
 * Revocation events on SQLite (DESIGN §4 "Revocation reaching verifiers"): one row per revocation
 * with everything it cascaded to, read by `GET /v1/revocations/events` and by every process's
 * revocation feed.
 *
 * - `revocation_events`: `id` is assigned from `revocation_event_head`, never by AUTOINCREMENT,
 *   so both dialects share one rule: ids are dense and commit in id order (see decisions.md).
 * - `revocation_event_head`: one row, the id of the newest event; updated in the revocation's own
 *   transaction.
 * - `tokens_status_idx`: tokens by status-list index, so building one status list
 *   (draft-ietf-oauth-status-list) is one index range scan over that list's tokens. Indexes are
 *   handed out in increasing order, so inserts land at the right edge of this index.
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001, 002, then this
 */
export const migration: Migration = {
  version: 3,
  name: "revocation_events",
  statements: [
    `CREATE TABLE revocation_events (
      id INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      target TEXT NOT NULL,
      reason TEXT,
      cascade TEXT NOT NULL
    )`,
    `CREATE TABLE revocation_event_head (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      last_id INTEGER NOT NULL
    )`,
    "INSERT INTO revocation_event_head (id, last_id) VALUES (1, 0)",
    "CREATE INDEX tokens_status_idx ON tokens (status_idx)",
  ],
};
