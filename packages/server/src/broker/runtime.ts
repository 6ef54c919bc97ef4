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
import { RateLimiter } from "./rate-limit.js";
import type { Vault } from "./vault.js";

export const CONNECTION_TTL_MS = 2000;

export interface OpenConnection {
  record: ConnectionRecord;
  /** The decrypted secret, kept only in memory. */
  secret: string;
  loadedAt: number;
}

export class ConnectionCache {
  readonly #entries = new Map<string, OpenConnection | null>();
  readonly #loading = new Map<string, Promise<OpenConnection | null>>();
  readonly #loadedAt = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly vault: Vault,
  ) {}

  /** The connection by name with its secret, or null if there is none. */
  async get(name: string): Promise<OpenConnection | null> {
    const now = Date.now();
    const at = this.#loadedAt.get(name);
    if (at !== undefined && now - at < CONNECTION_TTL_MS) return this.#entries.get(name) ?? null;
    let p = this.#loading.get(name);
    if (!p) {
      p = this.#load(name, now).finally(() => this.#loading.delete(name));
      this.#loading.set(name, p);
    }
    return p;
  }

  async #load(name: string, now: number): Promise<OpenConnection | null> {
    const record = await this.store.broker.getConnectionByName(name);
    const entry = record
      ? { record, secret: (await this.vault.open(record.id, record.secret)).toString("utf8"), loadedAt: now }
      : null;
    if (this.#entries.size > 10_000) {
      this.#entries.clear();
      this.#loadedAt.clear();
    }
    this.#entries.set(name, entry);
    this.#loadedAt.set(name, now);
    return entry;
  }

  invalidate(name: string): void {
    this.#entries.delete(name);
    this.#loadedAt.delete(name);
  }
}

export class BrokerRuntime {
  readonly connections: ConnectionCache;
  /** Replaceable so operators (and tests) can change limits without a restart. */
  limiter: RateLimiter;
  /** Emits `decided:<apv id>` when a decision is recorded in this process. */
  readonly approvals = new EventEmitter();
  /** `constraints.max_calls` by grant id (constraints never change after a grant is created). */
  readonly maxCalls = new Map<string, number | null>();

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
}
