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
 * Leaves are hashed when offered and kept in one fixed ring of 32-byte slots, slot `index mod
 * capacity`, next to the index each slot holds. Keeping the entries' text until the integrator
 * ran (100 ms or more) outlived the young generation's collections, so every entry was copied
 * into the old generation and collected there; a ring allocates nothing per entry.
 *
 * @example
 * const cache = new LeafCache(20_000);
 * cache.offer([41, 42], ['{"index":41,…}', '{"index":42,…}']);
 * cache.prefix(41, 100); // two leaf hashes
 */
import { isStorableText } from "../crypto/text.js";
import { hashEntry } from "./hasher.js";

const LEAF = 32;

export class LeafCache {
  /** Slot `s` holds the leaf of entry `#held[s]`, or nothing when that is -1. */
  readonly #ring: Buffer;
  readonly #held: Float64Array;
  #size = 0;

  /** @param capacity most leaves kept; an offer overwrites the slot of the entry `capacity` before it. */
  constructor(private readonly capacity: number) {
    this.#ring = Buffer.alloc(capacity * LEAF);
    this.#held = new Float64Array(capacity).fill(-1);
  }

  /** Records committed entries (`indexes[k]` holds `entries[k]`), skipping unstorable text. */
  offer(indexes: readonly number[], entries: readonly string[]): void {
    for (let k = 0; k < indexes.length; k++) {
      const index = indexes[k]!;
      const entry = entries[k]!;
      const slot = index % this.capacity;
      const occupied = this.#held[slot] !== -1;
      if (!isStorableText(entry)) {
        if (occupied) this.#size--;
        this.#held[slot] = -1;
        continue;
      }
      if (!occupied) this.#size++;
      this.#ring.set(hashEntry(entry), slot * LEAF);
      this.#held[slot] = index;
    }
  }

  /** The leaves at start, start + 1, … up to the first entry missing (or unstorable) or `end`. */
  prefix(start: number, end: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = start; i < end; i++) {
      const slot = i % this.capacity;
      if (this.#held[slot] !== i) break;
      // A copy: the slot is overwritten once `capacity` more entries are offered.
      out.push(Uint8Array.prototype.slice.call(this.#ring, slot * LEAF, slot * LEAF + LEAF));
    }
    return out;
  }

  /** Forgets every leaf below `size` (integrated). */
  forgetBelow(size: number): void {
    if (this.#size === 0) return;
    for (let s = 0; s < this.capacity; s++) {
      const held = this.#held[s]!;
      if (held !== -1 && held < size) {
        this.#held[s] = -1;
        this.#size--;
      }
    }
  }

  /** How many leaves are held. */
  get size(): number {
    return this.#size;
  }
}
