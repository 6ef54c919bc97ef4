/**
 * Kysely table interfaces for Deputy's database. Columns are snake_case; times are epoch ms
 * (BIGINT in PostgreSQL, INTEGER in SQLite); JSON columns hold JSON text that the store parses;
 * booleans are BOOLEAN in PostgreSQL and 0/1 in SQLite (read both with `Boolean(v)`).
 *
 * @example
 * const db = new Kysely<Database>({ dialect });
 * const row = await db.selectFrom("agents").selectAll().where("id", "=", id).executeTakeFirst();
 */

export interface PrincipalsTable {
  id: string;
  type: string;
  name: string;
  email: string | null;
  status: string;
  created_at: number;
  disabled_at: number | null;
}

export interface PrincipalTokensTable {
  id: string;
  principal_id: string;
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
}

export interface AgentsTable {
  id: string;
  principal_id: string;
  parent_id: string | null;
  /** JSON array of ancestor ids, nearest first. */
  chain: string;
  name: string;
  description: string | null;
  status: string;
  /** JSON object or null. */
  provenance: string | null;
  created_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
  /** The enrollment the agent registered with, else null. */
  enrollment_id: string | null;
  /** JSON `{scopes, resources}`: the most any grant to this agent may hold; null = uncapped. */
  ceiling: string | null;
  /** JSON: claims of the verified software statement, or null. */
  provenance_verified: string | null;
  /** Unclaimed temporary agents: when the sweeper removes it (epoch ms); else null. */
  temporary_until: number | null;
  /** SHA-256 (hex) of a temporary agent's claim code. */
  claim_code_hash: string | null;
  claimed_at: number | null;
}

export interface AgentKeysTable {
  agent_id: string;
  kid: string;
  /** JSON object (public JWK). */
  jwk: string;
  alg: string;
  created_at: number;
  removed_at: number | null;
}

export interface GrantsTable {
  id: string;
  agent_id: string;
  principal_id: string;
  parent_grant_id: string | null;
  /** JSON array of strings. */
  scopes: string;
  /** JSON array of audiences. */
  resources: string;
  expires_at: number;
  max_delegation_depth: number;
  /** JSON object. */
  constraints: string;
  tokens_issued: number;
  status: string;
  created_at: number;
  revoked_at: number | null;
}

export interface ResourcesTable {
  id: string;
  audience: string;
  name: string;
  secret_hash: string | null;
  allow_bearer: boolean | number;
  builtin: boolean | number;
  created_at: number;
  require_provenance: boolean | number;
  /** JSON array of allowed `code_digest` values, or null for any. */
  code_digests: string | null;
  accept_unbound_provenance: boolean | number;
}

export interface EnrollmentsTable {
  id: string;
  principal_id: string;
  code_hash: string;
  /** JSON array. */
  scopes: string;
  /** JSON array of audiences. */
  resources: string;
  max_agents: number;
  agents_enrolled: number;
  require_provenance: boolean | number;
  status: string;
  expires_at: number;
  created_at: number;
  revoked_at: number | null;
}

export interface AgentClaimsTable {
  agent_id: string;
  principal_id: string;
  from_principal: string;
  claimed_at: number;
}

export interface ProvenanceIssuersTable {
  id: string;
  name: string;
  issuer: string;
  /** JSON `{keys: [...]}` (public keys only). */
  jwks: string;
  /** Migration 006: true by default; issuers registered before it were set to false. */
  require_key_binding: boolean | number;
  created_at: number;
}

export interface DeputySettingsTable {
  name: string;
  value: string;
}

export interface TokensTable {
  id: string;
  agent_id: string;
  principal_id: string;
  grant_id: string;
  audience: string;
  scope: string;
  jkt: string | null;
  status_idx: number;
  parent_token_id: string | null;
  issued_at: number;
  expires_at: number;
  kid: string;
  revoked_at: number | null;
}

export interface UsedNoncesTable {
  key: string;
  expires_at: number;
}

export interface IssuerKeysTable {
  kid: string;
  alg: string;
  /** JSON object (public JWK). */
  public_jwk: string;
  private_key_enc: string;
  status: string;
  created_at: number;
  retired_at: number | null;
  publish_until: number | null;
}

export interface AuditLogTable {
  idx: number;
  at: number;
  action: string;
  decision: string;
  actor_agent: string | null;
  /** JSON array of ancestor agent ids. */
  actor_chain: string;
  actor_principal: string | null;
  target: string | null;
  resource: string | null;
  token_id: string | null;
  grant_id: string | null;
  entry: string;
}

/**
 * PostgreSQL only. Single row (`id = 1`): number of audit entries; appends lock and bump it.
 * SQLite needs no head: its writers are already serialised, so the head is MAX(idx) + 1.
 */
export interface AuditHeadTable {
  id: number;
  size: number;
}

/** Single row (`id = 1`): the integrated Merkle tree (RFC 9162 §2.1) over `audit_log[0, size)`. */
export interface AuditTreeStateTable {
  id: number;
  size: number;
  /** 32-byte root hash (BLOB / BYTEA). */
  root: Uint8Array;
  updated_at: number;
  /** How far `audit_entry_ids` reaches: entries [0, indexed_size), never past `size`. */
  indexed_size: number;
}

/**
 * (id, idx) for the acting agent and the token of every entry of the integrated tree
 * (`audit_log[0, tree size)`) that names them; written by the integrating transaction (migration 009).
 */
export interface AuditEntryIdsTable {
  id: string;
  idx: number;
}

/** Node (level, idx) = MTH of leaves [idx·2^level, (idx+1)·2^level); level 0 = leaf hashes. */
export interface AuditTreeNodesTable {
  level: number;
  idx: number;
  hash: Uint8Array;
}

/** Signed C2SP checkpoints, one per integrated tree size. */
export interface AuditCheckpointsTable {
  size: number;
  root: Uint8Array;
  note: string;
  created_at: number;
}

/** Single row (`id = 1`): the log's Ed25519 note key; the private key is sealed with the master key. */
export interface AuditLogKeyTable {
  id: number;
  name: string;
  /** Raw 32-byte Ed25519 public key. */
  public_key: Uint8Array;
  private_key_enc: string;
  created_at: number;
}

/** SQLite only: named counters (PostgreSQL uses a SEQUENCE for the status index). */
export interface CountersTable {
  name: string;
  value: number;
}

/** The vault's key-encryption keys, each sealed with the master key (migration 004). */
export interface VaultKeysTable {
  id: string;
  sealed: string;
  status: string;
  created_at: number;
  retired_at: number | null;
}

/** Broker connections (migration 004); the secret is envelope-encrypted, never stored in the clear. */
export interface ConnectionsTable {
  id: string;
  name: string;
  upstream: string;
  audience: string;
  resource_id: string;
  auth_type: string;
  auth_name: string | null;
  /** JSON array of rules. */
  rules: string;
  secret_ct: string;
  secret_dek: string;
  secret_kek_id: string;
  secret_version: number;
  secret_rotated_at: number;
  created_at: number;
}

/** Held broker calls and their decisions (migration 004). */
export interface ApprovalsTable {
  id: string;
  connection_id: string;
  connection_name: string;
  agent_id: string;
  /** JSON array of parent agent ids, nearest first. */
  chain: string;
  principal_id: string;
  token_id: string;
  grant_id: string;
  method: string;
  url: string;
  body_sha256: string;
  status: string;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  /** JSON object: who decided. */
  decided_by: string | null;
  reason: string | null;
  receipt: string | null;
  used_at: number | null;
}

/** One revocation and everything it cascaded to (migration 003). */
export interface RevocationEventsTable {
  id: number;
  at: number;
  target: string;
  reason: string | null;
  /** JSON: {@link RevocationCascade}. */
  cascade: string;
}

/** One row: the id of the newest revocation event (migration 003). */
export interface RevocationEventHeadTable {
  id: number;
  last_id: number;
}

export interface SchemaMigrationsTable {
  version: number;
  applied_at: number;
}

export interface Database {
  principals: PrincipalsTable;
  principal_tokens: PrincipalTokensTable;
  agents: AgentsTable;
  agent_keys: AgentKeysTable;
  grants: GrantsTable;
  resources: ResourcesTable;
  tokens: TokensTable;
  used_nonces: UsedNoncesTable;
  issuer_keys: IssuerKeysTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  audit_tree_state: AuditTreeStateTable;
  audit_entry_ids: AuditEntryIdsTable;
  audit_tree_nodes: AuditTreeNodesTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_log_key: AuditLogKeyTable;
  counters: CountersTable;
  enrollments: EnrollmentsTable;
  agent_claims: AgentClaimsTable;
  provenance_issuers: ProvenanceIssuersTable;
  deputy_settings: DeputySettingsTable;
  vault_keys: VaultKeysTable;
  connections: ConnectionsTable;
  approvals: ApprovalsTable;
  revocation_events: RevocationEventsTable;
  revocation_event_head: RevocationEventHeadTable;
  schema_migrations: SchemaMigrationsTable;
}
