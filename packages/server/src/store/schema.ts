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
  audit_tree_nodes: AuditTreeNodesTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_log_key: AuditLogKeyTable;
  counters: CountersTable;
  revocation_events: RevocationEventsTable;
  revocation_event_head: RevocationEventHeadTable;
  schema_migrations: SchemaMigrationsTable;
}
