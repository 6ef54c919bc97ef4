import type { Migration } from "../../migrate.js";

/**
 * A version of everything a token's stored state is read from, changed by triggers on every write
 * that could change it (see the SQLite migration of the same number). PostgreSQL keeps the same
 * schema so both stores stay alike; only the SQLite store reads the version today, since on
 * PostgreSQL reading it would cost a round trip, as much as the token's own row.
 *
 * @example
 * await migrate(db, "postgres"); // applies 001…009, then this
 */
export const migration: Migration = {
  version: 10,
  name: "token_state_version",
  statements: [
    `CREATE TABLE token_state_version (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      version BIGINT NOT NULL
    )`,
    "INSERT INTO token_state_version (id, version) VALUES (1, floor(random() * 9007199254740991)::bigint)",
    `CREATE FUNCTION deputy_bump_token_state_version() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- The table next to the one that changed, whatever the session's search_path.
        EXECUTE format(
          'UPDATE %I.token_state_version SET version = floor(random() * 9007199254740991)::bigint WHERE id = 1',
          TG_TABLE_SCHEMA
        );
        RETURN NULL;
      END
    $$`,
    `CREATE TRIGGER tokens_state_change AFTER UPDATE OR DELETE ON tokens
      FOR EACH STATEMENT EXECUTE FUNCTION deputy_bump_token_state_version()`,
    `CREATE TRIGGER grants_state_change AFTER UPDATE OF id, revoked_at OR DELETE ON grants
      FOR EACH STATEMENT EXECUTE FUNCTION deputy_bump_token_state_version()`,
  ],
};
