import type { Migration } from "../../migrate.js";

/**
 * Provisioning (PostgreSQL): enrollments, provenance issuers, temporary agents and claims.
 *
 * - `enrollments`: a code (stored as its SHA-256 only) that lets up to `max_agents` agents
 *   register themselves for `principal_id`, capped by `scopes`/`resources` (the agent ceiling).
 *   `agents_enrolled` is bumped by one conditional UPDATE, so exactly `max_agents` racing
 *   registrations succeed.
 * - `agents` gain `enrollment_id` (for the cascade), `ceiling` (JSON `{scopes, resources}`: no
 *   grant may exceed it), `provenance_verified` (the claims of a verified software statement,
 *   kept apart from the self-asserted `provenance`), and for temporary agents `temporary_until`,
 *   `claim_code_hash`, `claimed_at`.
 * - `agent_claims`: which principal claimed which agent, so audit queries by principal also find
 *   the entries the agent made before its claim (entries are immutable and never rewritten).
 * - `resources` gain `require_provenance` and `code_digests` (JSON allow-list or NULL).
 * - `deputy_settings`: small named values (the sandbox principal of temporary agents).
 *
 * @example
 * await migrate(db, "postgres"); // applies 001, 002, then this
 */
export const migration: Migration = {
  version: 5,
  name: "provisioning",
  statements: [
    `CREATE TABLE enrollments (
      id TEXT PRIMARY KEY,
      principal_id TEXT NOT NULL REFERENCES principals (id),
      code_hash TEXT NOT NULL,
      scopes TEXT NOT NULL,
      resources TEXT NOT NULL,
      max_agents BIGINT NOT NULL,
      agents_enrolled BIGINT NOT NULL DEFAULT 0,
      require_provenance BOOLEAN NOT NULL DEFAULT FALSE,
      status TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      created_at BIGINT NOT NULL,
      revoked_at BIGINT
    )`,
    "CREATE UNIQUE INDEX enrollments_code_idx ON enrollments (code_hash)",
    "CREATE INDEX enrollments_page_idx ON enrollments (created_at, id)",
    "CREATE INDEX enrollments_principal_idx ON enrollments (principal_id, created_at, id)",
    "ALTER TABLE agents ADD COLUMN enrollment_id TEXT REFERENCES enrollments (id)",
    "ALTER TABLE agents ADD COLUMN ceiling TEXT",
    "ALTER TABLE agents ADD COLUMN provenance_verified TEXT",
    "ALTER TABLE agents ADD COLUMN temporary_until BIGINT",
    "ALTER TABLE agents ADD COLUMN claim_code_hash TEXT",
    "ALTER TABLE agents ADD COLUMN claimed_at BIGINT",
    "CREATE INDEX agents_enrollment_idx ON agents (enrollment_id) WHERE enrollment_id IS NOT NULL",
    // The sweeper's scan: only unclaimed temporary agents carry temporary_until.
    "CREATE INDEX agents_temporary_idx ON agents (temporary_until) WHERE temporary_until IS NOT NULL",
    "CREATE UNIQUE INDEX agents_claim_code_idx ON agents (claim_code_hash) WHERE claim_code_hash IS NOT NULL",
    `CREATE TABLE agent_claims (
      agent_id TEXT PRIMARY KEY REFERENCES agents (id),
      principal_id TEXT NOT NULL REFERENCES principals (id),
      from_principal TEXT NOT NULL,
      claimed_at BIGINT NOT NULL
    )`,
    "CREATE INDEX agent_claims_principal_idx ON agent_claims (principal_id)",
    `CREATE TABLE provenance_issuers (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      issuer TEXT NOT NULL,
      jwks TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    "CREATE UNIQUE INDEX provenance_issuers_issuer_idx ON provenance_issuers (issuer)",
    "CREATE INDEX provenance_issuers_page_idx ON provenance_issuers (created_at, id)",
    "ALTER TABLE resources ADD COLUMN require_provenance BOOLEAN NOT NULL DEFAULT FALSE",
    "ALTER TABLE resources ADD COLUMN code_digests TEXT",
    "CREATE TABLE deputy_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
  ],
};
