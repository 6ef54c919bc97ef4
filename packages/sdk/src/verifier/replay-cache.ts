/**
 * DPoP `jti` replay cache (RFC 9449 §11.1) in bounded memory. Each proof key is remembered until
 * its acceptance window closes. When the cache is full the oldest entries are evicted, and the
 * newest `iat` among them becomes a floor: proofs at or below it are refused from then on, so an
 * evicted `jti` can never be replayed — overload shrinks the window instead of opening a hole.
 *
 * @example
 * const cache = new ReplayCache(100_000);
 * cache.consume(`${jkt}:${jti}`, iat, iat + 65) // true the first time, false for a replay
 */
export class ReplayCache {
  /** key → [iat, expiry] (epoch seconds); a Map keeps insertion order, which is roughly time order. */
  readonly #entries = new Map<string, readonly [number, number]>();
  readonly #max: number;
  #floorIat = Number.NEGATIVE_INFINITY;

  constructor(maxEntries = 100_000) {
    this.#max = Math.max(1, maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Proofs with `iat` at or below this are refused (only ever raised by evictions). */
  get floorIat(): number {
    return this.#floorIat;
  }

  /**
   * True when `key` was not seen before (and records it until `until`); false for a replay or
   * for a proof no newer than the eviction floor.
   *
   * @example
   * if (!cache.consume(key, iat, iat + 65, nowSec)) throw refuse("ERR_DPOP_REPLAYED", "replayed proof");
   */
  consume(key: string, iat: number, until: number, nowSec: number = iat): boolean {
    if (iat <= this.#floorIat) return false;
    const seen = this.#entries.get(key);
    if (seen !== undefined && seen[1] > nowSec) return false;
    this.#sweep(nowSec);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.entries().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value[0]);
      if (oldest.value[1][1] > nowSec) this.#floorIat = Math.max(this.#floorIat, oldest.value[1][0]);
    }
    this.#entries.delete(key);
    this.#entries.set(key, [iat, until]);
    return true;
  }

  /** Drops expired entries from the front (the oldest); stops at the first live one. */
  #sweep(nowSec: number): void {
    for (const [key, [, until]] of this.#entries) {
      if (until > nowSec) break;
      this.#entries.delete(key);
    }
  }
}
