/**
 * Row shapes returned by the {@link Store}. Times are epoch milliseconds (numbers) in
 * both dialects; JSON-valued columns are parsed by the store and never leak as text.
 *
 * @example
 * const agent: AgentRecord = await store.agents.get("agt_…");
 */

export type PrincipalType = "human" | "service";
export type PrincipalStatus = "active" | "disabled";
export type AgentStatus = "active" | "revoked";
export type GrantStatus = "active" | "revoked";

export interface PrincipalRecord {
  id: string;
  type: PrincipalType;
  name: string;
  email: string | null;
  status: PrincipalStatus;
  createdAt: number;
  disabledAt: number | null;
}

export interface PrincipalTokenRecord {
  id: string;
  principalId: string;
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  tokenHash: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface AgentRecord {
  id: string;
  principalId: string;
  /** The parent agent for a sub-agent, else null. */
  parentId: string | null;
  /** Parent agents, nearest first (`[parent, grandparent, …]`); empty for a root agent. */
  chain: string[];
  name: string;
  description: string | null;
  status: AgentStatus;
  /** Self-asserted provenance as given at registration (free-form JSON object) or null. */
  provenance: Record<string, unknown> | null;
  createdAt: number;
  revokedAt: number | null;
  revokeReason: string | null;
  /** The enrollment this agent registered with, else null. */
  enrollmentId: string | null;
  /** The agent ceiling: no grant to this agent may exceed it (DESIGN §1); null = uncapped. */
  ceiling: AgentCeiling | null;
  /** Claims of a software statement verified at registration, or null (kept apart from `provenance`). */
  verifiedProvenance: VerifiedProvenance | null;
  /** An unclaimed temporary agent: when it is swept (epoch ms); null otherwise. */
  temporaryUntil: number | null;
  /** When a temporary agent was claimed by a principal, else null. */
  claimedAt: number | null;
}

/** Upper bound on what an agent may ever be granted (an enrollment's, or the sandbox's). */
export interface AgentCeiling {
  scopes: string[];
  resources: string[];
}

/** Claims of a verified software statement (a JWT from a registered provenance issuer). */
export interface VerifiedProvenance {
  iss: string;
  /** The issuer's id for this launch. */
  sub: string;
  software_id: string | null;
  software_version: string | null;
  code_digest: string | null;
  model: string | null;
  runtime: string | null;
  launched_by: string | null;
  iat: number | null;
  exp: number;
  /**
   * Whether the statement was bound to a key of this agent (`cnf.jkt`, RFC 7800). False for an
   * unbound statement, which whoever held it could have attached to any registration; also false
   * for agents registered before key binding existed.
   */
  bound: boolean;
}

export interface EnrollmentRecord {
  id: string;
  principalId: string;
  /** SHA-256 (hex) of the enrollment code; the code itself is never stored. */
  codeHash: string;
  scopes: string[];
  resources: string[];
  maxAgents: number;
  agentsEnrolled: number;
  requireProvenance: boolean;
  status: "active" | "revoked";
  expiresAt: number;
  createdAt: number;
  revokedAt: number | null;
}

export interface ProvenanceIssuerRecord {
  id: string;
  name: string;
  /** The `iss` its software statements carry. */
  issuer: string;
  jwks: { keys: Record<string, unknown>[] };
  /** Its statements must carry `cnf.jkt` naming a key of the registering agent (RFC 7800). */
  requireKeyBinding: boolean;
  createdAt: number;
}

export interface AgentKeyRecord {
  agentId: string;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url); also the key's `kid`. */
  kid: string;
  /** The public JWK exactly as registered (private members are refused before storage). */
  jwk: Record<string, unknown>;
  /** "EdDSA" for Ed25519, "ES256" for P-256. */
  alg: "EdDSA" | "ES256";
  createdAt: number;
  removedAt: number | null;
}

export interface GrantConstraints {
  /** Maximum number of access tokens that may ever be minted from this grant. */
  max_tokens?: number;
  /** Epoch ms before which no token may be minted from this grant. */
  not_before?: number;
  /** Maximum number of broker calls (`/proxy`) tokens of this grant may ever make. */
  max_calls?: number;
}

export interface GrantRecord {
  id: string;
  agentId: string;
  principalId: string;
  /** The grant this one was delegated from (agent → sub-agent), else null. */
  parentGrantId: string | null;
  scopes: string[];
  /** Resource audiences (RFC 8707 resource indicators). */
  resources: string[];
  expiresAt: number;
  /** How many further delegation hops are allowed below this grant (0..4). */
  maxDelegationDepth: number;
  constraints: GrantConstraints;
  /** Number of tokens minted so far (for `constraints.max_tokens`). */
  tokensIssued: number;
  status: GrantStatus;
  createdAt: number;
  revokedAt: number | null;
}

export interface ResourceRecord {
  id: string;
  audience: string;
  name: string;
  /** SHA-256 (hex) of the introspection client secret; null for built-in resources. */
  secretHash: string | null;
  /** Whether Bearer (non-DPoP) tokens may be issued for this audience. */
  allowBearer: boolean;
  builtin: boolean;
  createdAt: number;
  /** Tokens for this audience only go to agents with verified provenance. */
  requireProvenance: boolean;
  /** When set, only agents whose verified `code_digest` is listed get tokens for it. */
  codeDigests: string[] | null;
  /**
   * Whether `requireProvenance` and `codeDigests` also accept a statement that was not bound to
   * the agent's key (`VerifiedProvenance.bound` false). Default false: an unbound statement is a
   * bearer assertion whoever held it could have attached to any registration.
   */
  acceptUnboundProvenance: boolean;
}

export interface TokenRecord {
  /** The `jti` (`tok_…`). */
  id: string;
  agentId: string;
  principalId: string;
  grantId: string;
  audience: string;
  scope: string;
  /** RFC 7638 thumbprint of the DPoP key (`cnf.jkt`), null for Bearer. */
  jkt: string | null;
  /** Index in the token status list (draft-ietf-oauth-status-list). */
  statusIdx: number;
  /** The parent's token for an exchanged (delegated) token, else null. */
  parentTokenId: string | null;
  issuedAt: number;
  expiresAt: number;
  /** Key id of the issuer key that signed it (for rotation bookkeeping). */
  kid: string;
  revokedAt: number | null;
}

export interface IssuerKeyRecord {
  kid: string;
  alg: "EdDSA";
  publicJwk: Record<string, unknown>;
  /** The PKCS#8 private key, encrypted with the master key (AES-256-GCM, see crypto/). */
  privateKeyEnc: string;
  status: "active" | "retired";
  createdAt: number;
  retiredAt: number | null;
  /** When retired: the time after which no token it signed can still be valid. */
  publishUntil: number | null;
}

export interface AuditRecord {
  /** 0-based position in the log. */
  index: number;
  at: number;
  action: string;
  decision: "allowed" | "denied" | "info";
  actorAgent: string | null;
  /** Parent agents of the actor, nearest first. */
  actorChain: string[];
  actorPrincipal: string | null;
  target: string | null;
  resource: string | null;
  tokenId: string | null;
  grantId: string | null;
  /** The canonical JSON (RFC 8785) bytes of the entry, as a string. */
  entry: string;
}

/** What a cascade touched; returned by revocations and recorded in the audit entry. */
export interface CascadeResult {
  principals: string[];
  agents: string[];
  grants: string[];
  /** Number of tokens newly marked revoked. */
  tokens: number;
}

/** The integrated Merkle tree over the audit log's first `size` entries (RFC 9162 §2.1). */
export interface AuditTreeState {
  size: number;
  /** MTH of entries [0, size): 32 bytes; SHA-256 of the empty string for size 0. */
  rootHash: Uint8Array;
  updatedAt: number;
}

/** A stored tree node: the root of the perfect subtree over leaves [index·2^level, (index+1)·2^level). */
export interface AuditTreeNodeRecord {
  level: number;
  index: number;
  /** 32 bytes; at level 0 the leaf hash `SHA-256(0x00 || entry)`. */
  hash: Uint8Array;
}

/** A signed checkpoint: the C2SP signed note stating (origin, size, root). */
export interface AuditCheckpointRecord {
  size: number;
  rootHash: Uint8Array;
  /** The complete signed note text (checkpoint body, blank line, signature lines). */
  note: string;
  createdAt: number;
}

/** The audit log's Ed25519 note key: never the token-signing key. */
export interface AuditLogKeyRecord {
  /** The C2SP key name, which is also the checkpoint origin (fixed at first start). */
  name: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** PKCS#8 private key sealed with the master key (AES-256-GCM, its own AAD context). */
  privateKeyEnc: string;
  createdAt: number;
}

/** Which table a master-sealed box lives in (see {@link MasterSealedBox}). */
export type MasterSealedKind = "vault_key" | "issuer_key" | "audit_log_key";

/**
 * One value sealed with the master-key ring: a vault KEK (`id` = its key id), an issuer private
 * key (`id` = its kid) or the audit log key (`id` = "1").
 */
export interface MasterSealedBox {
  kind: MasterSealedKind;
  id: string;
  sealed: string;
}

/** A key-encryption key of the vault; `sealed` is the 32-byte key sealed with the master key. */
export interface VaultKeyRecord {
  id: string;
  sealed: string;
  status: "active" | "retired";
  createdAt: number;
  retiredAt: number | null;
}

/** The envelope of one vault secret: ciphertext, wrapped data key and the KEK that wrapped it. */
export interface SealedSecret {
  ciphertext: string;
  wrappedKey: string;
  keyId: string;
}

export type ConnectionAuthType = "bearer" | "header" | "basic" | "query";

export interface ConnectionRule {
  scope: string;
  methods: string[];
  paths: string[];
  approval?: "required";
}

export interface ConnectionRecord {
  id: string;
  name: string;
  upstream: string;
  audience: string;
  resourceId: string;
  authType: ConnectionAuthType;
  authName: string | null;
  rules: ConnectionRule[];
  secret: SealedSecret;
  secretVersion: number;
  secretRotatedAt: number;
  createdAt: number;
}

export type ApprovalStatus = "pending" | "approved" | "denied" | "used";

export interface ApprovalRecord {
  id: string;
  connectionId: string;
  connectionName: string;
  agentId: string;
  chain: string[];
  principalId: string;
  tokenId: string;
  grantId: string;
  method: string;
  /** The full proxy URL, query included. */
  url: string;
  bodySha256: string;
  status: ApprovalStatus;
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
  decidedBy: Record<string, unknown> | null;
  reason: string | null;
  /** The signed decision receipt (compact JWS). */
  receipt: string | null;
  usedAt: number | null;
}

/** A token a revocation made invalid: its id and its `exp` (epoch seconds, as in the token). */
export interface RevokedTokenRef {
  id: string;
  exp: number;
}

/** Everything one revocation changed (DESIGN §4): only ids that were active before it. */
export interface RevocationCascade {
  principals: string[];
  agents: string[];
  grants: string[];
  /** Tokens revoked by it that had not expired yet (an expired token is refused by `exp` anyway). */
  tokens: RevokedTokenRef[];
}

/** One row of the revocation event log (`GET /v1/revocations/events`). */
export interface RevocationEventRecord {
  /** Dense and strictly increasing, in commit order (see {@link RevocationEventStore}). */
  id: number;
  /** Epoch ms. */
  at: number;
  /** The id the revocation was asked for (`prn_`, `agt_`, `grt_` or `tok_`). */
  target: string;
  reason: string | null;
  cascade: RevocationCascade;
}
