/**
 * Token records kept in memory for as long as the database's token state version (migration 010)
 * is the one they were read at. Every write that could change what `TokenStore.get` answers (a
 * token revoked or deleted, a grant revoked or deleted) gives the version a new random value, by
 * triggers in the schema, whichever process or tool writes. So a held record is exactly what the
 * database would answer now, and checking that costs one read of one row instead of a join.
 *
 * SQLite only: the check is a synchronous read on the process's own connection. Inside a
 * transaction that connection sees the transaction's own writes too, which is safe: a version
 * moved by an uncommitted write only causes misses, and a rolled-back one is never reached again
 * (random values, not a count).
 *
 * One read serves every lookup made before it: a lookup waits for the next read of the version,
 * taken once per pass of the event loop (`setImmediate`). Each read starts an SQLite read
 * transaction (two `fcntl` calls on the WAL's shared memory, about 10 µs here), as much as the
 * rest of an introspection's database work; shared, it costs a fraction of that per request. It
 * stays exact: a revocation that had committed when a request arrived (its call returned before
 * the request was sent, in this process or another) committed before the read that request waits
 * for.
 *
 * @example
 * const cache = new TokenCache(() => versionStatement.get() as number);
 * const held = (await cache.get(id)) ?? null;
 */
import type { TokenRecord } from "../types.js";

export class TokenCache {
  #version: number | null = null;
  readonly #records = new Map<string, TokenRecord>();

  /**
   * @param readVersion the database's current token state version; may throw (SQLITE_BUSY), which
   *   counts as a miss.
   * @param capacity most records held; the oldest goes first.
   */
  constructor(
    private readonly readVersion: () => number,
    private readonly capacity = 50_000,
  ) {}

  /** Callers waiting for the next read of the version, or null when none is scheduled. */
  #waiting: Array<() => void> | null = null;

  /**
   * The record of `id` if held and current as of a read of the version taken after this call.
   * A moved version empties the cache.
   */
  async get(id: string): Promise<TokenRecord | undefined> {
    await this.#nextRead();
    return this.#version === null ? undefined : this.#records.get(id);
  }

  #nextRead(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#waiting) return void this.#waiting.push(resolve);
      this.#waiting = [resolve];
      setImmediate(() => {
        const waiting = this.#waiting ?? [];
        this.#waiting = null;
        this.#read();
        for (const wake of waiting) wake();
      });
    });
  }

  #read(): void {
    let version: number;
    try {
      version = this.readVersion();
    } catch {
      this.#forget();
      return;
    }
    if (version !== this.#version) {
      this.#records.clear();
      this.#version = version;
    }
  }

  /** Keeps `record`, read in the same statement as `version`, unless the version moved since. */
  put(record: TokenRecord, version: number): void {
    if (version !== this.#version) return;
    if (this.#records.size >= this.capacity) {
      const oldest = this.#records.keys().next();
      if (!oldest.done) this.#records.delete(oldest.value);
    }
    this.#records.set(record.id, Object.freeze(record));
  }

  /** How many records are held. */
  get size(): number {
    return this.#records.size;
  }

  #forget(): void {
    this.#records.clear();
    this.#version = null;
  }
}
