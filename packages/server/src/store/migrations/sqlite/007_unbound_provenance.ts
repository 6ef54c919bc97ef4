import type { Migration } from "../../migrate.js";

/**
 * Resources decide on bound provenance (SQLite): `resources.accept_unbound_provenance`. A
 * resource's `require_provenance` and `code_digests` accept only agents whose software statement
 * was bound to their key (`cnf.jkt`), unless this is set: an unbound statement is a bearer
 * assertion anyone holding it could have attached to a registration of their own.
 *
 * Every resource, existing ones included, starts at false (fail closed): a resource that must keep
 * accepting agents of a launcher that cannot bind is switched by an operator
 * (`PATCH /v1/resources/{id} {"accept_unbound_provenance": true}`, docs/provisioning.md).
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…006, then this
 */
export const migration: Migration = {
  version: 7,
  name: "unbound_provenance",
  statements: ["ALTER TABLE resources ADD COLUMN accept_unbound_provenance INTEGER NOT NULL DEFAULT 0"],
};
