import type { Migration } from "../../migrate.js";

/**
 * Software statement key binding (SQLite): `provenance_issuers.require_key_binding`. An issuer
 * that requires it has its statements refused unless they carry `cnf.jkt` (RFC 7800) naming a key
 * of the registering agent.
 *
 * The column defaults to true, so an issuer registered from now on requires binding unless it
 * says otherwise; the issuers already registered are set to false in the same transaction, so
 * their launchers can still register agents until an operator turns binding on. Their unbound
 * statements no longer satisfy a resource's `require_provenance` or `code_digests` after 007,
 * unless that resource sets `accept_unbound_provenance` (docs/provisioning.md).
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…005, then this
 */
export const migration: Migration = {
  version: 6,
  name: "statement_binding",
  statements: [
    "ALTER TABLE provenance_issuers ADD COLUMN require_key_binding INTEGER NOT NULL DEFAULT 1",
    "UPDATE provenance_issuers SET require_key_binding = 0",
  ],
};
