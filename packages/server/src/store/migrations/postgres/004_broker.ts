import type { Migration } from "../../migrate.js";

/**
 * The credential broker on PostgreSQL (issue #5): the vault's key ring, connections with their
 * envelope-encrypted secrets, held requests awaiting approval, and the per-grant call counter.
 *
 * - `vault_keys`: key-encryption keys (KEKs) of the vault, each sealed with the master key; one is
 *   `active` (wraps new data keys), older ones stay `retired` until no data key references them.
 * - `connections`: one upstream API each; `secret_ct` is the secret sealed with a per-secret data
 *   key (AES-256-GCM, AAD = the connection id), `secret_dek` that data key wrapped by KEK
 *   `secret_kek_id`.
 * - `approvals`: a held call bound to method, URL and body SHA-256, and its decision receipt.
 * - `grants.calls_made`: `constraints.max_calls` is counted with one conditional UPDATE.
 *
 * @example
 * await migrate(db, "postgres"); // applies 001…004 in order
 */
export const migration: Migration = {
  version: 4,
  name: "broker",
  statements: [
    `CREATE TABLE vault_keys (
      id TEXT PRIMARY KEY,
      sealed TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      retired_at BIGINT
    )`,
    "CREATE UNIQUE INDEX vault_keys_active_idx ON vault_keys (status) WHERE status = 'active'",
    `CREATE TABLE connections (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      upstream TEXT NOT NULL,
      audience TEXT NOT NULL,
      resource_id TEXT NOT NULL REFERENCES resources (id),
      auth_type TEXT NOT NULL,
      auth_name TEXT,
      rules TEXT NOT NULL,
      secret_ct TEXT NOT NULL,
      secret_dek TEXT NOT NULL,
      secret_kek_id TEXT NOT NULL REFERENCES vault_keys (id),
      secret_version INTEGER NOT NULL,
      secret_rotated_at BIGINT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    "CREATE UNIQUE INDEX connections_name_idx ON connections (name)",
    "CREATE INDEX connections_page_idx ON connections (created_at, id)",
    "CREATE INDEX connections_kek_idx ON connections (secret_kek_id)",
    `CREATE TABLE approvals (
      id TEXT PRIMARY KEY,
      connection_id TEXT NOT NULL,
      connection_name TEXT NOT NULL,
      agent_id TEXT NOT NULL,
      chain TEXT NOT NULL,
      principal_id TEXT NOT NULL,
      token_id TEXT NOT NULL,
      grant_id TEXT NOT NULL,
      method TEXT NOT NULL,
      url TEXT NOT NULL,
      body_sha256 TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      decided_at BIGINT,
      decided_by TEXT,
      reason TEXT,
      receipt TEXT,
      used_at BIGINT
    )`,
    "CREATE INDEX approvals_page_idx ON approvals (created_at, id)",
    "CREATE INDEX approvals_status_idx ON approvals (status, created_at, id)",
    "CREATE INDEX approvals_principal_idx ON approvals (principal_id, created_at, id)",
    "ALTER TABLE grants ADD COLUMN calls_made INTEGER NOT NULL DEFAULT 0",
  ],
};
