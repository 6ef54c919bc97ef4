import type { Migration } from "../../migrate.js";

/**
 * Initial SQLite schema. Times are INTEGER epoch ms, JSON columns TEXT, booleans 0/1.
 *
 * @example
 * await applyMigrations(db, "sqlite", [migration]);
 */
export const migration: Migration = {
  version: 1,
  name: "init",
  statements: [
    `CREATE TABLE principals (
      id TEXT PRIMARY KEY,
      type TEXT NOT NULL,
      name TEXT NOT NULL,
      email TEXT,
      status TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      disabled_at INTEGER
    )`,
    "CREATE INDEX principals_page_idx ON principals (created_at, id)",
    `CREATE TABLE principal_tokens (
      id TEXT PRIMARY KEY,
      principal_id TEXT NOT NULL REFERENCES principals (id),
      token_hash TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      revoked_at INTEGER
    )`,
    "CREATE UNIQUE INDEX principal_tokens_hash_idx ON principal_tokens (token_hash)",
    "CREATE INDEX principal_tokens_principal_idx ON principal_tokens (principal_id)",
    `CREATE TABLE agents (
      id TEXT PRIMARY KEY,
      principal_id TEXT NOT NULL REFERENCES principals (id),
      parent_id TEXT REFERENCES agents (id),
      chain TEXT NOT NULL,
      name TEXT NOT NULL,
      description TEXT,
      status TEXT NOT NULL,
      provenance TEXT,
      created_at INTEGER NOT NULL,
      revoked_at INTEGER,
      revoke_reason TEXT
    )`,
    "CREATE INDEX agents_page_idx ON agents (created_at, id)",
    "CREATE INDEX agents_principal_idx ON agents (principal_id, created_at, id)",
    "CREATE INDEX agents_parent_idx ON agents (parent_id, created_at, id)",
    `CREATE TABLE agent_keys (
      agent_id TEXT NOT NULL REFERENCES agents (id),
      kid TEXT NOT NULL,
      jwk TEXT NOT NULL,
      alg TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      removed_at INTEGER,
      PRIMARY KEY (agent_id, kid)
    )`,
    `CREATE TABLE grants (
      id TEXT PRIMARY KEY,
      agent_id TEXT NOT NULL REFERENCES agents (id),
      principal_id TEXT NOT NULL REFERENCES principals (id),
      parent_grant_id TEXT REFERENCES grants (id),
      scopes TEXT NOT NULL,
      resources TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      max_delegation_depth INTEGER NOT NULL,
      constraints TEXT NOT NULL,
      tokens_issued INTEGER NOT NULL DEFAULT 0,
      status TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      revoked_at INTEGER
    )`,
    "CREATE INDEX grants_page_idx ON grants (created_at, id)",
    "CREATE INDEX grants_agent_idx ON grants (agent_id, created_at, id)",
    "CREATE INDEX grants_principal_idx ON grants (principal_id, created_at, id)",
    "CREATE INDEX grants_parent_idx ON grants (parent_grant_id)",
    `CREATE TABLE resources (
      id TEXT PRIMARY KEY,
      audience TEXT NOT NULL,
      name TEXT NOT NULL,
      secret_hash TEXT,
      allow_bearer INTEGER NOT NULL,
      builtin INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    )`,
    "CREATE UNIQUE INDEX resources_audience_idx ON resources (audience)",
    "CREATE INDEX resources_page_idx ON resources (created_at, id)",
    `CREATE TABLE tokens (
      id TEXT PRIMARY KEY,
      agent_id TEXT NOT NULL REFERENCES agents (id),
      principal_id TEXT NOT NULL REFERENCES principals (id),
      grant_id TEXT NOT NULL REFERENCES grants (id),
      audience TEXT NOT NULL,
      scope TEXT NOT NULL,
      jkt TEXT,
      status_idx INTEGER NOT NULL,
      parent_token_id TEXT REFERENCES tokens (id),
      issued_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      kid TEXT NOT NULL,
      revoked_at INTEGER
    )`,
    "CREATE INDEX tokens_agent_idx ON tokens (agent_id)",
    "CREATE INDEX tokens_grant_idx ON tokens (grant_id)",
    // Partial: most tokens are not delegated, and their inserts then skip this index entirely.
    "CREATE INDEX tokens_parent_idx ON tokens (parent_token_id) WHERE parent_token_id IS NOT NULL",
    "CREATE INDEX tokens_kid_idx ON tokens (kid, expires_at)",
    "CREATE TABLE used_nonces (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX used_nonces_expiry_idx ON used_nonces (expires_at)",
    `CREATE TABLE issuer_keys (
      kid TEXT PRIMARY KEY,
      alg TEXT NOT NULL,
      public_jwk TEXT NOT NULL,
      private_key_enc TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      retired_at INTEGER,
      publish_until INTEGER
    )`,
    `CREATE TABLE audit_log (
      -- INTEGER PRIMARY KEY is the rowid, so MAX(idx) (the log head) is one b-tree descent.
      idx INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      action TEXT NOT NULL,
      decision TEXT NOT NULL,
      actor_agent TEXT,
      actor_chain TEXT NOT NULL,
      actor_principal TEXT,
      target TEXT,
      resource TEXT,
      token_id TEXT,
      grant_id TEXT,
      entry TEXT NOT NULL
    )`,
    "CREATE INDEX audit_agent_idx ON audit_log (actor_agent, idx)",
    "CREATE INDEX audit_principal_idx ON audit_log (actor_principal, idx)",
    "CREATE INDEX audit_token_idx ON audit_log (token_id)",
    // The status-list counter; PostgreSQL uses a SEQUENCE instead.
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO counters (name, value) VALUES ('status_idx', 0)",
  ],
};
