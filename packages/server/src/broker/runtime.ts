/**
 * The broker's in-process state: a short-lived cache of connections with their opened secrets
 * (so a call does not decrypt per request), the per-agent rate limiter, the grants' call budgets,
 * and a notifier that wakes long-polls when an approval is decided.
 *
 * The cache holds a connection for {@link CONNECTION_TTL_MS}; changes made through this process
 * invalidate it at once, changes made by another replica are seen within that time.
 *
 * @example
 * const entry = await deputy.broker.connections.get("github"); // { record, secret } or null
 */
import { EventEmitter } from "node:events";
import type { Clock } from "../clock.js";
import type { ConnectionRecord, Store } from "../store/index.js";
import type { GrantBudget } from "./budget.js";
import { planUpstream, type UpstreamPlan } from "./forward.js";
import { RateLimiter } from "./rate-limit.js";
import type { Vault } from "./vault.js";

export const CONNECTION_TTL_MS = 2000;
const MAX_GRANTS = 100_000;

export interface OpenConnection {
  record: ConnectionRecord;
  /** How calls are forwarded (the decrypted secret included, kept only in memory), worked out once. */
  upstream: UpstreamPlan;
  loadedAt: number;
}

export class ConnectionCache {
  /** Connections that exist, by name. Misses are never kept: unknown names are the caller's choice. */
  readonly #entries = new Map<string, OpenConnection>();
  readonly #loading = new Map<string, Promise<OpenConnection | null>>();
  /** Bumped by every invalidation: a load that began before one must not fill the cache. */
  #epoch = 0;

  constructor(
    private readonly store: Store,
    private readonly vault: Vault,
    private readonly maxEntries = 10_000,
  ) {}

  /** The connection by name with its secret, or null if there is none. */
  async get(name: string): Promise<OpenConnection | null> {
    const now = Date.now();
    const hit = this.#entries.get(name);
    if (hit !== undefined && now - hit.loadedAt < CONNECTION_TTL_MS) return hit;
    let p = this.#loading.get(name);
    if (!p) {
      const loading = this.#load(name, now).finally(() => {
        if (this.#loading.get(name) === loading) this.#loading.delete(name);
      });
      this.#loading.set(name, loading);
      p = loading;
    }
    return p;
  }

  async #load(name: string, now: number): Promise<OpenConnection | null> {
    const epoch = this.#epoch;
    const record = await this.store.broker.getConnectionByName(name);
    if (!record) {
      // A miss is not cached: caching it let calls naming made-up connections fill the cache and
      // flush the real ones (and hid a connection created meanwhile).
      this.#entries.delete(name);
      return null;
    }
    const secret = (await this.vault.open(record.id, record.secret)).toString("utf8");
    const entry: OpenConnection = {
      record,
      upstream: planUpstream(record.upstream, { type: record.authType, name: record.authName, secret }),
      loadedAt: now,
    };
    // Changed through this process while it was read (rotated, deleted): this caller gets what it
    // read, nobody else does. Caching it would serve the old secret or a deleted connection for 2 s.
    if (epoch !== this.#epoch) return entry;
    this.#entries.delete(name);
    // Full (only with more connections than the bound): the least recently loaded one goes.
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(name, entry);
    return entry;
  }

  invalidate(name: string): void {
    this.#epoch++;
    this.#entries.delete(name);
    this.#loading.delete(name);
  }
}

/**
 * DPoP proof `jti`s this process has recorded as used, until they expire: a replay of a proof
 * seen here is refused before the rate limiter (so a captured proof cannot spend its agent's
 * allowance) and without a store write. The store's replay cache stays the authority (other
 * replicas, a restart); this only answers earlier. Bounded: the oldest entries go first.
 */
export class RecentProofs {
  readonly #until = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  has(key: string, now: number): boolean {
    const until = this.#until.get(key);
    return until !== undefined && until > now;
  }

  add(key: string, until: number): void {
    this.#until.delete(key);
    if (this.#until.size >= this.max) {
      const oldest = this.#until.keys().next();
      if (oldest.done !== true) this.#until.delete(oldest.value);
    }
    this.#until.set(key, until);
  }
}

export class BrokerRuntime {
  /** Replaceable so tests can bound it. */
  connections: ConnectionCache;
  /** Replaceable so operators (and tests) can change limits without a restart. */
  limiter: RateLimiter;
  /** Proof jtis used through this process (see {@link RecentProofs}). */
  readonly recentProofs = new RecentProofs();
  /** Emits `decided:<apv id>` when a decision is recorded in this process. */
  readonly approvals = new EventEmitter();
  /** Each grant's `max_calls` and parent, by grant id (neither changes after a grant is created). */
  readonly grants = new Map<string, GrantBudget>();

  constructor(
    store: Store,
    vault: Vault,
    readonly clock: Clock,
    opts: { rate: number; burst: number },
  ) {
    this.connections = new ConnectionCache(store, vault);
    this.limiter = new RateLimiter(opts.rate, opts.burst);
    this.approvals.setMaxListeners(0);
  }

  /** Caches a grant's budget facts; bounded (every token exchange makes a grant), a miss re-reads. */
  rememberGrant(id: string, g: GrantBudget): void {
    if (this.grants.size >= MAX_GRANTS) this.grants.clear();
    this.grants.set(id, g);
  }
}
