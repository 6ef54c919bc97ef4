import type { Migration } from "../../migrate.js";

/**
 * Initial PostgreSQL schema. Times are BIGINT epoch ms, JSON columns TEXT, booleans BOOLEAN.
 *
 * @example
 * await applyMigrations(db, "postgres", [migration]);
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
      created_at BIGINT NOT NULL,
      disabled_at BIGINT
    )`,
    "CREATE INDEX principals_page_idx ON principals (created_at, id)",
    `CREATE TABLE principal_tokens (
      id TEXT PRIMARY KEY,
      principal_id TEXT NOT NULL REFERENCES principals (id),
      token_hash TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      revoked_at BIGINT
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
      created_at BIGINT NOT NULL,
      revoked_at BIGINT,
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
      created_at BIGINT NOT NULL,
      removed_at BIGINT,
      PRIMARY KEY (agent_id, kid)
    )`,
    `CREATE TABLE grants (
      id TEXT PRIMARY KEY,
      agent_id TEXT NOT NULL REFERENCES agents (id),
      principal_id TEXT NOT NULL REFERENCES principals (id),
      parent_grant_id TEXT REFERENCES grants (id),
      scopes TEXT NOT NULL,
      resources TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      max_delegation_depth INTEGER NOT NULL,
      constraints TEXT NOT NULL,
      tokens_issued INTEGER NOT NULL DEFAULT 0,
      status TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      revoked_at BIGINT
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
      allow_bearer BOOLEAN NOT NULL,
      builtin BOOLEAN NOT NULL,
      created_at BIGINT NOT NULL
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
      status_idx BIGINT NOT NULL,
      parent_token_id TEXT REFERENCES tokens (id),
      issued_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      kid TEXT NOT NULL,
      revoked_at BIGINT
    )`,
    "CREATE INDEX tokens_agent_idx ON tokens (agent_id)",
    "CREATE INDEX tokens_grant_idx ON tokens (grant_id)",
    // Partial: most tokens are not delegated, and their inserts then skip this index entirely.
    "CREATE INDEX tokens_parent_idx ON tokens (parent_token_id) WHERE parent_token_id IS NOT NULL",
    "CREATE INDEX tokens_kid_idx ON tokens (kid, expires_at)",
    "CREATE TABLE used_nonces (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE INDEX used_nonces_expiry_idx ON used_nonces (expires_at)",
    `CREATE TABLE issuer_keys (
      kid TEXT PRIMARY KEY,
      alg TEXT NOT NULL,
      public_jwk TEXT NOT NULL,
      private_key_enc TEXT NOT NULL,
      status TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      retired_at BIGINT,
      publish_until BIGINT
    )`,
    `CREATE TABLE audit_log (
      idx BIGINT PRIMARY KEY,
      at BIGINT NOT NULL,
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
    // Appends lock this row (UPDATE … RETURNING), which serialises them and keeps indexes dense.
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL)",
    "INSERT INTO audit_head (id, size) VALUES (1, 0)",
    // nextval() is outside transactions, so a status index is never handed out twice.
    "CREATE SEQUENCE token_status_idx_seq MINVALUE 0 START WITH 0",
  ],
};
