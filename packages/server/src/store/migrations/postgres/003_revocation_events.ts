import type { Migration } from "../../migrate.js";

/**
 * Revocation events on PostgreSQL; same tables as the SQLite migration 003 (see there). No
 * BIGSERIAL: a sequence hands out ids at INSERT time, so two revocations can commit out of id
 * order (11 visible before 10) and a reader that resumed after 11 would never see 10. Ids come
 * from the `revocation_event_head` row instead, whose row lock is held until COMMIT, so event
 * n + 1 cannot even be numbered before event n has committed (docs/decisions.md).
 *
 * @example
 * await migrate(db, "postgres"); // applies 001, 002, then this
 */
export const migration: Migration = {
  version: 3,
  name: "revocation_events",
  statements: [
    `CREATE TABLE revocation_events (
      id BIGINT PRIMARY KEY,
      at BIGINT NOT NULL,
      target TEXT NOT NULL,
      reason TEXT,
      cascade TEXT NOT NULL
    )`,
    `CREATE TABLE revocation_event_head (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      last_id BIGINT NOT NULL
    )`,
    "INSERT INTO revocation_event_head (id, last_id) VALUES (1, 0)",
    "CREATE INDEX tokens_status_idx ON tokens (status_idx)",
  ],
};
