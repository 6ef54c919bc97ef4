import type { Migration } from "../../migrate.js";

/**
 * A version of everything a token's stored state is read from (`TokenStore.get`: the token row and
 * its grant's `revoked_at`), changed by triggers on every write that could change that state. A
 * process may keep token records in memory for as long as the version it read them at is still
 * the database's (store/sql/token-cache.ts): one read of one row instead of a join per token.
 *
 * The version is a fresh random value, never a count: a transaction that moved it and then rolled
 * back would leave a count at a value another transaction reaches later with different state, so a
 * record read inside the first would pass as current. The triggers sit in the schema, so every
 * writer keeps the version (other processes, `sqlite3` at a shell), not only this code.
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…009, then this
 */
const bump = "UPDATE token_state_version SET version = abs(random() % 9007199254740991) WHERE id = 1;";

export const migration: Migration = {
  version: 10,
  name: "token_state_version",
  statements: [
    `CREATE TABLE token_state_version (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      version INTEGER NOT NULL
    )`,
    "INSERT INTO token_state_version (id, version) VALUES (1, abs(random() % 9007199254740991))",
    `CREATE TRIGGER tokens_state_update AFTER UPDATE ON tokens BEGIN ${bump} END`,
    `CREATE TRIGGER tokens_state_delete AFTER DELETE ON tokens BEGIN ${bump} END`,
    `CREATE TRIGGER grants_state_update AFTER UPDATE OF id, revoked_at ON grants
      WHEN OLD.id IS NOT NEW.id OR OLD.revoked_at IS NOT NEW.revoked_at BEGIN ${bump} END`,
    `CREATE TRIGGER grants_state_delete AFTER DELETE ON grants BEGIN ${bump} END`,
  ],
};
