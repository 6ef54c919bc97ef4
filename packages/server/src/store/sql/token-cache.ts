/**
 * Token records kept in memory for as long as the database's token state version (migration 010)
 * is the one they were read at. Every write that could change what `TokenStore.get` answers (a
 * token revoked or deleted, a grant revoked or deleted) gives the version a new random value, by
 * triggers in the schema, whichever process or tool writes. So a held record is exactly what the
 * database would answer now, and checking that costs one read of one row instead of a join.
 *
 * SQLite only: the check is a synchronous read on the process's own connection, a few
 * microseconds. Inside a transaction that connection sees the transaction's own writes too, which
 * is safe: a version moved by an uncommitted write only causes misses, and a rolled-back one is
 * never reached again (random values, not a count).
 *
 * @example
 * const cache = new TokenCache(() => versionStatement.get() as number);
 * const held = cache.get(id) ?? null;
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

  /** The record of `id` if held and still current. A moved version empties the cache. */
  get(id: string): TokenRecord | undefined {
    let version: number;
    try {
      version = this.readVersion();
    } catch {
      this.#forget();
      return undefined;
    }
    if (version !== this.#version) {
      this.#records.clear();
      this.#version = version;
      return undefined;
    }
    return this.#records.get(id);
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
