/**
 * Leaf hashes of entries this process appended and saw committed, kept until the ledger has
 * integrated them, so the integrator need not read those entries back from the database (on
 * PostgreSQL, sending them back cost about as much database CPU as a third of the append).
 *
 * Only standalone batches are offered (`Audit.record` without a transaction): their append is
 * committed when it returns. An entry appended inside a request's transaction may still roll
 * back and its index be reused, so it is never offered; the integrator reads it from the store.
 * An entry holding U+0000 or a lone surrogate is not offered either (canonical JSON escapes
 * both, but the store interface takes any text): its stored bytes could differ from its UTF-8
 * here, and a leaf must be the hash of the bytes as stored.
 *
 * The tree then commits to the bytes this process wrote. An edit made to the row in between is
 * still caught: `deputy audit verify` hashes the entries as they are read back.
 *
 * @example
 * const cache = new LeafCache(20_000);
 * cache.offer([41, 42], ['{"index":41,…}', '{"index":42,…}']);
 * cache.prefix(41, 100); // two leaf hashes
 */
import { isStorableText } from "../crypto/text.js";
import { hashEntry } from "./hasher.js";

export class LeafCache {
  /** Entry text by index, hashed when asked for (see {@link prefix}). */
  readonly #entries = new Map<number, string>();

  /** @param capacity most leaves kept; beyond it the cache is emptied (the store still has them). */
  constructor(private readonly capacity: number) {}

  /**
   * Records committed entries (`indexes[k]` holds `entries[k]`). Kept as text and hashed by
   * {@link prefix}, in the integrator's run: the appender calls this between two batches, when
   * every microsecond delays the next one.
   */
  offer(indexes: readonly number[], entries: readonly string[]): void {
    if (this.#entries.size + indexes.length > this.capacity) this.#entries.clear();
    for (let k = 0; k < indexes.length; k++) this.#entries.set(indexes[k]!, entries[k]!);
  }

  /** The leaves at start, start + 1, … up to the first entry missing (or unstorable) or `end`. */
  prefix(start: number, end: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = start; i < end; i++) {
      const entry = this.#entries.get(i);
      if (entry === undefined || !isStorableText(entry)) break;
      out.push(hashEntry(entry));
    }
    return out;
  }

  /** Forgets every leaf below `size` (integrated). */
  forgetBelow(size: number): void {
    // Insertion order is append order within a process, so the stale ones come first; a leaf
    // offered out of order is dropped when the cache overflows.
    for (const index of this.#entries.keys()) {
      if (index >= size) break;
      this.#entries.delete(index);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
