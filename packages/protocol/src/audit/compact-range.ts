/**
 * The right edge of a growing Merkle tree: the roots of the perfect subtrees that cover leaves
 * `[0, size)`, largest first (one per set bit of `size`). Appending a leaf merges equal-sized
 * subtrees, one node hash per merge: O(1) hashes amortized, O(log n) memory. The root at the
 * current size is those subtree roots folded from the right, which is exactly RFC 9162 §2.1.1's
 * MTH (its split at the largest power of two below n is the largest of these subtrees).
 *
 * A server keeps one in memory: `append` returns each completed {@link TreeNode} with its hash
 * (the leaf itself, then every merge), so storing them as they come makes every later proof
 * O(log n) reads ({@link rangeNodes}). After a restart, {@link CompactRange.restore} rebuilds it
 * from the nodes `rangeNodes({start: 0, end: size})`.
 *
 * With a {@link SyncMerkleHasher} every method returns plain values; with the default Web Crypto
 * hasher, promises (see {@link HashResult}).
 *
 * @example
 * const range = new CompactRange(hasher);     // hasher = createSyncHasher(…)
 * for (const entry of entries) {
 *   for (const { node, hash } of range.append(hasher.leaf(entry))) store.put(node, hash);
 * }
 * const root = range.root();                  // MTH of all entries
 */
import { HASH_SIZE } from "./encoding.js";
import { AuditVerificationError } from "./errors.js";
import {
  type AsyncMerkleHasher,
  checkDigest,
  emptyRoot,
  type Hashing,
  type HashResult,
  type MerkleHasher,
  runHashing,
  type SyncMerkleHasher,
  webCryptoHasher,
} from "./hasher.js";
import { checkCount, rangeNodes, type TreeNode } from "./tree.js";

/** A node completed by an append, to be stored by whoever serves proofs. */
export interface CompletedNode {
  readonly node: TreeNode;
  readonly hash: Uint8Array;
}

/** Appends `leafHash` to a right edge of `size` leaves (mutating `edge`); returns the completed nodes. */
export function* appendToEdge(
  edge: Uint8Array[],
  size: number,
  leafHash: Uint8Array,
): Hashing<CompletedNode[]> {
  const completed: CompletedNode[] = [{ node: { level: 0, index: size }, hash: leafHash }];
  let hash = leafHash;
  let level = 0;
  // Each trailing 1 bit of `size` is a perfect subtree of the same height as `hash`: merge them.
  for (let s = size; s % 2 === 1; s = (s - 1) / 2) {
    hash = yield [edge.pop()!, hash];
    level++;
    completed.push({ node: { level, index: Math.floor(size / 2 ** level) }, hash });
  }
  edge.push(hash);
  return completed;
}

/**
 * {@link appendToEdge} without the generator, for a {@link SyncMerkleHasher}: the hot path of a
 * server's appends and of {@link verifyEntries}. `edge` changes only once every hash succeeded.
 * Completed nodes go to `completed` when given.
 */
export function appendToEdgeSync(
  edge: Uint8Array[],
  size: number,
  leafHash: Uint8Array,
  hasher: SyncMerkleHasher,
  completed: CompletedNode[] | null,
): void {
  completed?.push({ node: { level: 0, index: size }, hash: leafHash });
  let hash = leafHash;
  let level = 0;
  for (let s = size; s % 2 === 1; s = (s - 1) / 2) {
    hash = checkDigest(hasher.node(edge[edge.length - 1 - level]!, hash));
    level++;
    completed?.push({ node: { level, index: Math.floor(size / 2 ** level) }, hash });
  }
  edge.length -= level;
  edge.push(hash);
}

/** Folds a right edge into the root: RFC 9162 §2.1.1 MTH of the leaves it covers. */
export function* edgeRoot(edge: readonly Uint8Array[]): Hashing<Uint8Array> {
  if (edge.length === 0) return emptyRoot();
  let root = edge[edge.length - 1]!;
  for (let i = edge.length - 2; i >= 0; i--) root = yield [edge[i]!, root];
  return root;
}

/**
 * An append-only Merkle tree kept as its right edge (see the top of this file). Not safe for
 * concurrent appends: one writer, appends in order.
 *
 * @example
 * const range = new CompactRange(createSyncHasher(sha256));
 * range.append(leafHashOfEntry0);
 * range.append(leafHashOfEntry1);
 * range.root(); // = rootFromLeaves([leafHashOfEntry0, leafHashOfEntry1], hasher)
 */
export class CompactRange<H extends MerkleHasher = AsyncMerkleHasher> {
  readonly #hasher: H;
  readonly #edge: Uint8Array[] = [];
  #size = 0;
  #busy = false;

  /** An empty range (size 0). */
  constructor(hasher: H = webCryptoHasher as H) {
    this.#hasher = hasher;
  }

  /**
   * Rebuilds a range of `size` leaves from the hashes of `rangeNodes({start: 0, end: size})`,
   * in that order (largest subtree first). Throws ERR_AUDIT_BAD_RANGE if the count is wrong.
   *
   * @example
   * const ids = rangeNodes({ start: 0, end: size });
   * const range = CompactRange.restore(size, ids.map((id) => store.get(id)), hasher);
   */
  static restore<H extends MerkleHasher = AsyncMerkleHasher>(
    size: number,
    hashes: readonly Uint8Array[],
    hasher: H = webCryptoHasher as H,
  ): CompactRange<H> {
    checkCount(size, "size");
    const expected = size === 0 ? 0 : rangeNodes({ start: 0, end: size }).length;
    if (hashes.length !== expected || hashes.some((h) => h.length !== HASH_SIZE)) {
      throw new AuditVerificationError(
        "ERR_AUDIT_BAD_RANGE",
        `a range of ${size} leaves needs ${expected} subtree hashes of ${HASH_SIZE} bytes`,
      );
    }
    const range = new CompactRange(hasher);
    range.#edge.push(...hashes.map((h) => new Uint8Array(h)));
    range.#size = size;
    return range;
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Copies of the subtree roots, largest first: what {@link CompactRange.restore} takes. */
  get hashes(): Uint8Array[] {
    return this.#edge.map((h) => new Uint8Array(h));
  }

  /**
   * Appends one leaf hash (`hasher.leaf(entryBytes)`), and returns the nodes it completed: the
   * leaf itself at level 0, then one node per merge. Appends must not overlap: with an async
   * hasher, await each before the next (a concurrent call throws).
   */
  append(leafHash: Uint8Array): HashResult<H, CompletedNode[]> {
    if (leafHash.length !== HASH_SIZE) throw new TypeError("a leaf hash is 32 bytes");
    if (this.#busy) throw new Error("CompactRange.append called while a previous append is pending");
    const size = this.#size;
    if (this.#hasher.sync === true) {
      const completed: CompletedNode[] = [];
      appendToEdgeSync(this.#edge, size, new Uint8Array(leafHash), this.#hasher, completed);
      this.#size = size + 1;
      return completed as HashResult<H, CompletedNode[]>;
    }
    // Work on a copy so a failed hash leaves the range unchanged.
    const edge = this.#edge.slice();
    this.#busy = true;
    const appended = runHashing(this.#hasher, appendToEdge(edge, size, new Uint8Array(leafHash))) as Promise<
      CompletedNode[]
    >;
    return appended
      .then((completed) => {
        this.#edge.splice(0, this.#edge.length, ...edge);
        this.#size = size + 1;
        return completed;
      })
      .finally(() => {
        this.#busy = false;
      }) as HashResult<H, CompletedNode[]>;
  }

  /** The Merkle tree hash of the leaves appended so far (the empty-tree hash at size 0). */
  root(): HashResult<H, Uint8Array> {
    return runHashing(this.#hasher, edgeRoot(this.#edge.slice()));
  }
}
