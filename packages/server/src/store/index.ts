/**
 * Deputy's storage contract: small per-domain interfaces composed into one {@link Store}.
 * Every method states its not-found, conflict and concurrency behaviour. Implementations:
 * SQLite (`sqlite.ts`, embedded default) and PostgreSQL (`postgres.ts`), both over Kysely
 * (`sql-store.ts`), verified by one conformance suite (`conformance.ts`).
 *
 * Conventions: `get*` returns `null` when absent (never throws for not-found); `create*` throws
 * {@link StoreConflictError} on a unique-key clash; every multi-row change happens inside
 * {@link Store.transaction} so it commits whole or not at all.
 *
 * @example
 * const store = await openStore({ url: "sqlite:./.deputy/deputy.db" });
 * await store.transaction(async (tx) => {
 *   await tx.principals.create(principal);
 *   await tx.audit.append(entry);
 * });
 */
import type {
  AgentKeyRecord,
  AgentRecord,
  AgentStatus,
  ApprovalRecord,
  ApprovalStatus,
  AuditCheckpointRecord,
  AuditLogKeyRecord,
  AuditRecord,
  AuditTreeNodeRecord,
  AuditTreeState,
  ConnectionRecord,
  EnrollmentRecord,
  GrantRecord,
  IssuerKeyRecord,
  MasterSealedBox,
  MasterSealedKind,
  PrincipalRecord,
  PrincipalTokenRecord,
  ProvenanceIssuerRecord,
  ResourceRecord,
  RevocationEventRecord,
  RevokedTokenRef,
  SealedSecret,
  TokenRecord,
  VaultKeyRecord,
} from "./types.js";

export type * from "./types.js";

/** Keyset pagination: items ordered by (createdAt, id) ascending; `after` is the last item seen. */
export interface PageRequest {
  limit: number;
  after?: { createdAt: number; id: string } | undefined;
}

export interface Page<T> {
  items: T[];
  /** True when more items follow the last one returned. */
  hasMore: boolean;
}

/** Thrown when a unique key (id, audience, token hash, …) already exists. */
export class StoreConflictError extends Error {
  override readonly name = "StoreConflictError";
  constructor(
    readonly entity: string,
    options?: { cause?: unknown },
  ) {
    super(`${entity} already exists`, options);
  }
}

export interface PrincipalStore {
  /** Throws StoreConflictError if the id exists. */
  create(p: PrincipalRecord): Promise<void>;
  get(id: string): Promise<PrincipalRecord | null>;
  list(filter: { status?: string | undefined }, page: PageRequest): Promise<Page<PrincipalRecord>>;
  /** Monotonic: an already-disabled principal keeps its first `disabledAt`. Returns true if it changed. */
  disable(id: string, at: number): Promise<boolean>;
  createToken(t: PrincipalTokenRecord): Promise<void>;
  /** Looks up an unrevoked token by its hash; null if unknown or revoked. */
  findTokenByHash(hash: string): Promise<PrincipalTokenRecord | null>;
  /** Monotonic: a revoked token keeps its first `revokedAt`. Returns true if it changed. */
  revokeToken(id: string, at: number): Promise<boolean>;
}

export interface AgentStore {
  /**
   * Throws StoreConflictError if the id (or the claim code hash) exists. Keys are inserted in the
   * same call. `claimCodeHash` is set for temporary agents only.
   */
  create(a: AgentRecord, keys: AgentKeyRecord[], claimCodeHash?: string): Promise<void>;
  get(id: string): Promise<AgentRecord | null>;
  list(
    filter: {
      principalId?: string | undefined;
      status?: AgentStatus | undefined;
      parentId?: string | undefined;
    },
    page: PageRequest,
  ): Promise<Page<AgentRecord>>;
  /** Ids of every descendant (sub-agents, recursively), not including `id` itself. */
  descendants(id: string): Promise<string[]>;
  /** Ids of every agent of a principal (any depth). */
  idsByPrincipal(principalId: string): Promise<string[]>;
  /**
   * Marks the given agents revoked. Monotonic and idempotent: agents already revoked keep
   * their first `revokedAt`/reason. Returns the ids that changed state.
   */
  revoke(ids: string[], at: number, reason: string | null): Promise<string[]>;
  /** Active (not removed) keys of an agent. */
  keys(agentId: string): Promise<AgentKeyRecord[]>;
  /** Returns the active key with this kid, or null. */
  key(agentId: string, kid: string): Promise<AgentKeyRecord | null>;
  /** Throws StoreConflictError if the agent already has a key with this kid (removed or not). */
  addKey(k: AgentKeyRecord): Promise<void>;
  /** Marks a key removed; returns false if there was no active key with that kid. */
  removeKey(agentId: string, kid: string, at: number): Promise<boolean>;
  /** Ids of every agent registered with this enrollment. */
  idsByEnrollment(enrollmentId: string): Promise<string[]>;
  /** The temporary agent whose claim code hashes to `hash` (claimed or not), or null. */
  getByClaimCodeHash(hash: string): Promise<AgentRecord | null>;
  /**
   * Binds an unclaimed, unexpired (`temporaryUntil > now`), active temporary agent to
   * `principalId`: the agent and its grants move to the principal, its ceiling is lifted, and the
   * claim is recorded for audit queries. Exactly one concurrent caller gets `true`; a claimed,
   * expired or revoked agent changes nothing and answers `false`.
   */
  claim(agentId: string, principalId: string, now: number): Promise<boolean>;
  /** Up to `limit` unclaimed temporary agents whose `temporaryUntil` is at or before `now`, oldest first. */
  expiredTemporary(now: number, limit: number): Promise<string[]>;
  /**
   * Ends the claim window of those of `ids` that are still unclaimed and expired at `now`, removes
   * what lets them act (their keys) and answers their ids; the caller then revokes exactly those.
   * The condition is re-checked row by row under the row lock, so an agent claimed after
   * {@link expiredTemporary} read it (a concurrent claim that committed in between) is left alone,
   * and a claim waiting on the lock then finds the window closed. The agent row stays as a
   * tombstone (audit entries and the status list still resolve, and a late claim answers
   * "expired" rather than "unknown"). Idempotent.
   */
  removeTemporary(ids: string[], now: number): Promise<string[]>;
}

export interface EnrollmentStore {
  /** Throws StoreConflictError if the id or the code hash exists. */
  create(e: EnrollmentRecord): Promise<void>;
  get(id: string): Promise<EnrollmentRecord | null>;
  getByCodeHash(hash: string): Promise<EnrollmentRecord | null>;
  list(filter: { principalId?: string | undefined }, page: PageRequest): Promise<Page<EnrollmentRecord>>;
  /**
   * Counts one registration against `maxAgents`, atomically, if the enrollment is active and
   * unexpired at `now`. Exactly `maxAgents` concurrent callers can ever get `true`.
   */
  takeSlot(id: string, now: number): Promise<boolean>;
  /** Monotonic: a revoked enrollment keeps its first `revokedAt`. Returns true if it changed. */
  revoke(id: string, at: number): Promise<boolean>;
}

export interface ProvenanceIssuerStore {
  /** Throws StoreConflictError if the id or the issuer exists. */
  create(i: ProvenanceIssuerRecord): Promise<void>;
  /**
   * With `lock` (inside a transaction), the row cannot be updated or deleted until the transaction
   * ends (PostgreSQL `FOR SHARE`; SQLite transactions hold the database's one write lock already).
   */
  get(id: string, options?: { lock?: boolean }): Promise<ProvenanceIssuerRecord | null>;
  getByIssuer(issuer: string): Promise<ProvenanceIssuerRecord | null>;
  /**
   * Sets `requireKeyBinding` and/or replaces `jwks`; returns the updated record, or null if there is
   * no such issuer.
   */
  update(
    id: string,
    change: { requireKeyBinding?: boolean | undefined; jwks?: ProvenanceIssuerRecord["jwks"] | undefined },
  ): Promise<ProvenanceIssuerRecord | null>;
  /** Deletes the issuer; returns the record deleted, or null if there was none. */
  remove(id: string): Promise<ProvenanceIssuerRecord | null>;
  list(page: PageRequest): Promise<Page<ProvenanceIssuerRecord>>;
}

export interface SettingStore {
  get(name: string): Promise<string | null>;
  /** Stores `value` unless `name` is set already; returns the value in effect (exactly one writer wins). */
  setIfAbsent(name: string, value: string): Promise<string>;
}

export interface GrantStore {
  create(g: GrantRecord): Promise<void>;
  get(id: string): Promise<GrantRecord | null>;
  list(
    filter: { agentId?: string | undefined; principalId?: string | undefined; status?: string | undefined },
    page: PageRequest,
  ): Promise<Page<GrantRecord>>;
  /** Active, unexpired (at `now`) grants of an agent. */
  activeForAgent(agentId: string, now: number): Promise<GrantRecord[]>;
  /** Ids of every grant delegated from `id`, recursively, not including `id`. */
  descendants(id: string): Promise<string[]>;
  /** Ids of every grant held by any of these agents. */
  idsByAgents(agentIds: string[]): Promise<string[]>;
  /** Monotonic and idempotent, like AgentStore.revoke. Returns the ids that changed. */
  revoke(ids: string[], at: number): Promise<string[]>;
  /**
   * Atomically counts one more minted token against `constraints.max_tokens`.
   * Returns false (and changes nothing) when the budget is used up. Exactly `max_tokens`
   * concurrent callers can succeed.
   */
  consumeTokenBudget(id: string, maxTokens: number | null): Promise<boolean>;
}

export interface ResourceStore {
  /** Throws StoreConflictError if the id or the audience exists. */
  create(r: ResourceRecord): Promise<void>;
  get(id: string): Promise<ResourceRecord | null>;
  getByAudience(audience: string): Promise<ResourceRecord | null>;
  list(page: PageRequest): Promise<Page<ResourceRecord>>;
  /**
   * Sets the provenance requirements of a resource (its only mutable fields); members left
   * undefined keep their value. Returns the updated record, or null if there is no such resource.
   */
  updateProvenance(
    id: string,
    change: {
      requireProvenance?: boolean | undefined;
      codeDigests?: string[] | null | undefined;
      acceptUnboundProvenance?: boolean | undefined;
    },
  ): Promise<ResourceRecord | null>;
}

export interface TokenStore {
  /** Records a minted token. Throws StoreConflictError on a duplicate jti. */
  create(t: TokenRecord): Promise<void>;
  /**
   * The token with its *effective* `revokedAt`: its own revocation, or else its grant's. Revoking a
   * grant (and so an agent or a principal, whose cascades revoke every grant below them) takes
   * every token minted from it down without rewriting the token rows: on PostgreSQL rewriting
   * 10,000 token rows cost 300 ms of a cascade, reading the grant costs one primary-key probe.
   */
  get(id: string): Promise<TokenRecord | null>;
  /** Allocates the next status-list index (a monotonically increasing integer, never reused). */
  nextStatusIndex(): Promise<number>;
  /**
   * Reserves `count` status-list indexes that were never handed out before and never will be
   * again, even if the caller's later work fails. Call it outside a transaction (on SQLite a
   * rolled-back reservation would be handed out twice). Indexes may be non-contiguous.
   */
  reserveStatusIndexes(count: number): Promise<number[]>;
  /**
   * Idempotent and monotonic: a revoked token never becomes active again. Returns true if it
   * changed: false for a token revoked before, on its own or through its grant.
   */
  revoke(id: string, at: number): Promise<boolean>;
  /**
   * Tokens minted from these grants that are still in force as far as revocation goes (not revoked
   * on their own, grant not yet revoked; expired ones included), with `exp` (epoch seconds): what
   * revoking the grants takes down. Read-only, since a token's state derives from its grant
   * ({@link TokenStore.get}); call it before revoking the grants. Order unspecified.
   */
  activeByGrants(grantIds: string[]): Promise<RevokedTokenRef[]>;
  /**
   * Revokes every unrevoked token whose parent token is `id`, recursively (delegated tokens);
   * answers the tokens that changed (id and `exp` in epoch seconds), in no particular order.
   */
  revokeDescendants(id: string, at: number): Promise<RevokedTokenRef[]>;
  /**
   * Status-list indexes in [from, to) whose token is revoked, on its own or through its grant,
   * ascending (draft-ietf-oauth-status-list §4: the bits set to 0x01 INVALID). One range scan of
   * the tokens in that list, each joined to its grant by primary key.
   */
  revokedStatusIndexes(from: number, to: number): Promise<number[]>;
  /** How many status-list indexes were ever handed out (the next one to hand out); 0 before any. */
  statusIndexHighWater(): Promise<number>;
  /**
   * Distinct grant ids of the tokens delegated (recursively, by `parentTokenId`) from token `id`,
   * not including `id`'s own grant: the child grants that token exchanges of it created.
   */
  delegatedGrantIds(id: string): Promise<string[]>;
  /** Latest `expiresAt` among tokens signed by `kid` (null if none). */
  latestExpiryForKid(kid: string): Promise<number | null>;
}

export interface NonceStore {
  /**
   * Records `key` as used until `expiresAt`. Exactly one concurrent caller with the same key
   * gets `true`; every other (and every later call before expiry) gets `false`. A key whose
   * stored `expiresAt` is before `now` (default `Date.now()`) is consumable again, atomically,
   * whether or not {@link NonceStore.purgeExpired} removed it yet.
   * Used for client-assertion `jti`s (RFC 7523 §3) and DPoP proof `jti`s (RFC 9449 §11.1).
   */
  consumeOnce(key: string, expiresAt: number, now?: number): Promise<boolean>;
  /** Deletes keys that expired before `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
}

export interface IssuerKeyStore {
  create(k: IssuerKeyRecord): Promise<void>;
  /**
   * Creates `k` only if no key is active, and answers whether it did: of several processes
   * starting at once on an empty database, exactly one creates the first signing key (PostgreSQL:
   * a transaction-scoped advisory lock per schema; SQLite: the write lock of `BEGIN IMMEDIATE`).
   */
  createFirst(k: IssuerKeyRecord): Promise<boolean>;
  /** The one active signing key, or null before the first start. */
  active(): Promise<IssuerKeyRecord | null>;
  /** Active key plus retired keys whose `publishUntil` is after `now`. */
  published(now: number): Promise<IssuerKeyRecord[]>;
  /** Retires the active key (sets `retiredAt`, `publishUntil`, status "retired"). */
  retire(kid: string, at: number, publishUntil: number): Promise<void>;
}

/**
 * An audit entry's bytes around its index, which is only known once the append is sequenced:
 * the entry is `head + index (decimal) + tail` ({@link renderEntry}). Building the entry this way
 * lets PostgreSQL number and store a whole batch in one statement.
 *
 * @example
 * const t: EntryTemplate = { head: '{"index":', tail: ',"v":1}' };
 * renderEntry(t, 7); // '{"index":7,"v":1}'
 */
export interface EntryTemplate {
  readonly head: string;
  readonly tail: string;
}

/**
 * The bytes of an entry at `index`.
 *
 * @example
 * renderEntry({ head: "[", tail: "]" }, 3); // "[3]"
 */
export function renderEntry(t: EntryTemplate, index: number): string {
  return `${t.head}${index}${t.tail}`;
}

export interface AuditStore {
  /**
   * Appends one entry and returns its 0-based index; the stored bytes are `entry` rendered at
   * that index. Indexes are dense and strictly increasing, even under concurrent appends and
   * across processes (the append serialises on the log head until its transaction ends).
   */
  append(fields: Omit<AuditRecord, "index" | "entry">, entry: EntryTemplate): Promise<number>;
  /**
   * Appends several entries at consecutive indexes, in order, and answers their indexes. Atomic
   * on its own (one statement on PostgreSQL, one transaction on SQLite) as well as inside a
   * transaction. Serialises on the log head like `append`.
   */
  appendMany(
    items: ReadonlyArray<{ fields: Omit<AuditRecord, "index" | "entry">; entry: EntryTemplate }>,
  ): Promise<number[]>;
  get(index: number): Promise<AuditRecord | null>;
  /** Number of entries. */
  size(): Promise<number>;
  /**
   * Entries filtered, in index order (ascending unless `page.order` is "desc"). `since`/`until`
   * are inclusive bounds on `at`; `afterIndex` and `beforeIndex` are exclusive bounds on the index.
   *
   * Every filter but `decision: "allowed"` is served by an index, and a time range by first
   * resolving it to an index range with a binary search over the log (entries are appended in
   * time order). So a page costs O(log n + page) however far the range is from either end of the
   * log. The key index (agents and tokens, and on SQLite principals, actions, resources and
   * decisions; PostgreSQL keeps `(column, idx)` indexes for those) is written by the integrator
   * (see {@link AuditTreeStore.indexEntries}): it serves a prefix of the integrated tree, and the
   * entries past it (at most a few thousand plus about a second's worth while an integrator runs)
   * are scanned. If a clock stepped
   * backwards while entries were written, entries at the edges of a time range whose `at` is out
   * of order may be left out.
   */
  query(
    filter: {
      agent?: string | undefined;
      principal?: string | undefined;
      action?: string | undefined;
      tokenId?: string | undefined;
      resource?: string | undefined;
      decision?: AuditRecord["decision"] | undefined;
      since?: number | undefined;
      until?: number | undefined;
    },
    page: {
      limit: number;
      afterIndex?: number | undefined;
      beforeIndex?: number | undefined;
      order?: "asc" | "desc" | undefined;
    },
  ): Promise<Page<AuditRecord>>;
  /**
   * The exact stored bytes of entries [start, end), in index order. Stops early at the first
   * missing index (past the end of the log, or a hole that only tampering can make).
   */
  entries(start: number, end: number): Promise<string[]>;
  /**
   * The same entries as JSON Lines bytes (each entry's UTF-8 bytes followed by `\n`), for bulk
   * reads; with the count of entries. Stops early at the first missing index, like `entries`.
   */
  entriesJsonl(start: number, end: number): Promise<{ count: number; bytes: Uint8Array }>;
  /**
   * RFC 9162 §2.1.1 leaf hashes, `SHA-256(0x00 || entry)`, of the stored bytes of entries
   * [start, end) in index order; stops early at the first missing index, like `entries`.
   */
  leafHashes(start: number, end: number): Promise<Uint8Array[]>;
}

/**
 * Storage of the audit ledger: the Merkle tree over the audit log (RFC 9162 §2.1), its signed
 * checkpoints and the log's note key. Written only by the integrator (`audit/ledger.ts`), which
 * serialises on {@link AuditTreeStore.lockState}; read by the proof and checkpoint endpoints.
 */
export interface AuditTreeStore {
  /** The integrated tree: size 0 with the empty-tree root before anything was integrated. */
  state(): Promise<AuditTreeState>;
  /**
   * The same, locking the state row until the surrounding transaction ends; or null, at once,
   * when another transaction holds it (PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED`; SQLite write
   * transactions are exclusive, so there it always answers). Exactly one transaction at a time
   * holds it, so integrators in several processes take turns; and since nobody ever waits for
   * it, it can never be part of a deadlock with other row locks the transaction holds (such as
   * the audit head, taken by every append). Call it inside {@link Store.transaction}.
   */
  lockState(): Promise<AuditTreeState | null>;
  /** Replaces the state; the caller holds {@link AuditTreeStore.lockState}. */
  setState(state: AuditTreeState): Promise<void>;
  /**
   * How far the index of {@link indexEntries} reaches: it holds entries `[0, indexedSize)`, a
   * prefix of the integrated tree.
   */
  indexedSize(): Promise<number>;
  /**
   * Indexes the entries `[start, end)` by the acting agent and the token they name, for the
   * `agent` and `tokenId` filters of {@link AuditStore.query}, which read that index below
   * {@link indexedSize} and scan the entries past it, and moves the indexed size to `end`. The
   * caller holds {@link AuditTreeStore.lockState}, `start` is the indexed size and `end` at most
   * the tree size it leaves (entries below it are final); otherwise it throws and indexes nothing.
   */
  indexEntries(start: number, end: number): Promise<void>;
  /**
   * Inserts tree nodes in bulk. Idempotent: a node already stored keeps its hash (a node's hash
   * never changes once its subtree is complete).
   */
  putNodes(nodes: readonly AuditTreeNodeRecord[]): Promise<void>;
  /**
   * The stored hashes of the given nodes, in one query, keyed `${level}/${index}`; nodes not
   * stored are absent from the map.
   */
  nodes(ids: ReadonlyArray<{ level: number; index: number }>): Promise<Map<string, Uint8Array>>;
  /** Leaf hashes (level-0 nodes) for [start, end), in order; stops early at the first missing one. */
  leaves(start: number, end: number): Promise<Uint8Array[]>;
  /** Stores a signed checkpoint. Idempotent per size: the first checkpoint stored for a size stays. */
  addCheckpoint(checkpoint: AuditCheckpointRecord): Promise<void>;
  /** The checkpoint with the largest size, or null before the first one. */
  latestCheckpoint(): Promise<AuditCheckpointRecord | null>;
  /** The log's note key, or null before the first start. */
  logKey(): Promise<AuditLogKeyRecord | null>;
  /**
   * Stores `key` unless a log key exists already, and returns the key in effect: when several
   * processes start at once, exactly one key wins and every caller gets that one.
   */
  ensureLogKey(key: AuditLogKeyRecord): Promise<AuditLogKeyRecord>;
}

/**
 * Storage of the credential broker (issue #5): the vault's key ring, connections (whose secrets
 * arrive here already sealed; the store never sees a secret in the clear), held calls awaiting
 * approval, and per-grant call budgets.
 */
export interface BrokerStore {
  /** The vault's active key-encryption key, or null before the first one. */
  activeVaultKey(): Promise<VaultKeyRecord | null>;
  /** Every vault key (active and retired). */
  vaultKeys(): Promise<VaultKeyRecord[]>;
  /**
   * Makes `key` the active vault key and retires the previous active one (if any), in the
   * caller's transaction. Throws StoreConflictError if the id exists.
   */
  addVaultKey(key: VaultKeyRecord): Promise<void>;
  /** Deletes a retired vault key; returns false (and keeps it) while any secret is still wrapped by it. */
  dropVaultKey(id: string): Promise<boolean>;
  /** Up to `limit` connections whose secret's data key is wrapped by vault key `keyId`. */
  connectionsWrappedBy(keyId: string, limit: number): Promise<ConnectionRecord[]>;
  /**
   * Replaces the wrapped data key of a connection, only if it is still wrapped by `fromKeyId`
   * (a concurrent secret rotation wins). Returns true if it changed.
   */
  rewrapSecret(connectionId: string, fromKeyId: string, wrappedKey: string, keyId: string): Promise<boolean>;
  /** Throws StoreConflictError if the id or the name exists. */
  createConnection(c: ConnectionRecord): Promise<void>;
  getConnection(id: string): Promise<ConnectionRecord | null>;
  getConnectionByName(name: string): Promise<ConnectionRecord | null>;
  listConnections(page: PageRequest): Promise<Page<ConnectionRecord>>;
  /** Replaces the sealed secret and bumps its version; returns the new version, or null if absent. */
  rotateConnectionSecret(id: string, secret: SealedSecret, at: number): Promise<number | null>;
  /** Deletes a connection; returns false if there was none. */
  deleteConnection(id: string): Promise<boolean>;
  /**
   * Atomically counts one broker call against `constraints.max_calls`. Returns false (and
   * changes nothing) when the budget is used up: exactly `maxCalls` concurrent callers succeed.
   */
  consumeCallBudget(grantId: string, maxCalls: number): Promise<boolean>;
  /** How many calls a grant has been charged (`calls_made`), or null for an unknown grant. */
  callsMade(grantId: string): Promise<number | null>;
  /** Gives back one call charged by {@link consumeCallBudget} (never below zero). */
  refundCallBudget(grantId: string): Promise<void>;
  /** Throws StoreConflictError if the id exists. */
  createApproval(a: ApprovalRecord): Promise<void>;
  getApproval(id: string): Promise<ApprovalRecord | null>;
  listApprovals(
    filter: { status?: ApprovalStatus | undefined; principalId?: string | undefined },
    page: PageRequest,
  ): Promise<Page<ApprovalRecord>>;
  /**
   * Records a decision on a pending, unexpired (at `at`) approval. Exactly one concurrent
   * decision wins; returns false when the approval was not pending (or had expired).
   */
  decideApproval(
    id: string,
    decision: {
      status: "approved" | "denied";
      at: number;
      by: Record<string, unknown>;
      reason: string | null;
      receipt: string;
    },
  ): Promise<boolean>;
  /**
   * Marks an approved, unexpired approval used: single use, exactly one concurrent caller gets
   * true (`Deputy-Approval` replay protection).
   */
  consumeApproval(id: string, at: number): Promise<boolean>;
  /**
   * Undoes {@link consumeApproval} for a call that never reached the upstream: a used approval is
   * approved (and unused) again. Returns false when it was not used.
   */
  restoreApproval(id: string): Promise<boolean>;
}

/**
 * The revocation event log (DESIGN §4 "Revocation reaching verifiers"): one event per revocation,
 * with everything it cascaded to, streamed to verifiers and to every replica's revocation feed.
 *
 * Ordering guarantee: ids are 1, 2, 3, … with no gaps, and an event becomes visible only after
 * every event with a smaller id is visible. So a reader that has seen id n and later reads
 * `after(n)` never misses an event. {@link RevocationEventStore.append} numbers an event from one
 * head row whose lock (PostgreSQL row lock; SQLite's write lock) is held until COMMIT: event n + 1
 * cannot be numbered before event n committed or rolled back (a rollback frees its number).
 */
export interface RevocationEventStore {
  /**
   * Appends an event and answers its id. Call it inside {@link Store.transaction}, as the last
   * write of the revocation it records (the head lock is then held for as short as possible). On
   * PostgreSQL it also queues `NOTIFY deputy_revocations` with the schema name as payload, which
   * PostgreSQL delivers only when the transaction commits.
   */
  append(event: Omit<RevocationEventRecord, "id">): Promise<number>;
  /** Events with an id greater than `afterId`, ascending, at most `limit`. */
  after(afterId: number, limit: number): Promise<RevocationEventRecord[]>;
  /** The id of the newest committed event; 0 when there is none. */
  latestId(): Promise<number>;
  /**
   * Deletes the events recorded before `before` (epoch ms) and answers how many. Ids keep counting
   * from the head, so a reader resuming from a pruned id simply gets the events after it. Costs
   * O(log n) primary-key reads to find the cut plus the deletes, never a scan.
   */
  prune(before: number): Promise<number>;
  /**
   * Calls `onChange` whenever events may have been appended, by this process or any other on the
   * same database: possibly spuriously, never missing one. PostgreSQL: `LISTEN` on a dedicated
   * connection, re-established with backoff; `onChange` also runs after every (re)connect, since
   * notifications sent while disconnected are lost. SQLite (several `serve --workers` on one file):
   * polls {@link RevocationEventStore.latestId} every `pollMs`. Answers a function that stops it.
   */
  watch(
    onChange: () => void,
    options: { pollMs: number; onError?: (err: unknown) => void },
  ): () => Promise<void>;
}

/**
 * Every value sealed with the master-key ring, across the tables that hold one, so a master-key
 * rotation can re-seal them (crypto/master-key-ring.ts, keys/master-rewrap.ts).
 */
export interface MasterSealedStore {
  /**
   * Every master-sealed box: vault keys, issuer keys of any status (a retired key's private half
   * is still stored), and the audit log key. Ordered by kind, then id.
   */
  list(): Promise<MasterSealedBox[]>;
  /**
   * Compare-and-swap: replaces the box of (`kind`, `id`) with `next` only if it still holds
   * `previous`, and answers whether it did. A row deleted or re-sealed by someone else meanwhile
   * is left alone (false), so concurrent re-sealers never overwrite each other with stale data.
   */
  replace(kind: MasterSealedKind, id: string, previous: string, next: string): Promise<boolean>;
}

export interface Store {
  readonly dialect: "sqlite" | "postgres";
  masterSealed: MasterSealedStore;
  principals: PrincipalStore;
  agents: AgentStore;
  grants: GrantStore;
  resources: ResourceStore;
  tokens: TokenStore;
  nonces: NonceStore;
  issuerKeys: IssuerKeyStore;
  audit: AuditStore;
  auditTree: AuditTreeStore;
  enrollments: EnrollmentStore;
  provenanceIssuers: ProvenanceIssuerStore;
  settings: SettingStore;
  broker: BrokerStore;
  revocationEvents: RevocationEventStore;
  /**
   * Runs `fn` in one database transaction: all of its writes commit together or none do.
   * Nested calls on the `tx` store run inside the same transaction. On PostgreSQL the
   * isolation is READ COMMITTED with row locks where a method says so; on SQLite writes are
   * serialised (BEGIN IMMEDIATE).
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
