/**
 * RFC 9162 §2.1 Merkle tree math: tree hashes, inclusion and consistency proofs (generation and
 * verification). Leaf hash `SHA-256(0x00 || entry)`, node hash `SHA-256(0x01 || left || right)`.
 *
 * Every function takes an optional hasher and answers with a promise for the default Web Crypto
 * one, or synchronously for a {@link SyncMerkleHasher} (see `hasher.ts`). Verification costs
 * O(log n) hashes. Generation from leaf hashes costs O(n): it is for tests, vectors and small
 * trees; a server answers proofs from stored nodes ({@link inclusionProofRanges},
 * {@link rangeNodes}, {@link proofFromNodes}).
 *
 * Verified against the RFC 6962 reference vectors (spec/vectors/audit/rfc6962.json, from
 * transparency-dev/merkle `proof/verify_test.go` and `rfc6962/rfc6962_test.go`).
 *
 * @example
 * const leaves = await Promise.all(entries.map((e) => leafHash(e)));
 * const root = await rootFromLeaves(leaves);
 * const proof = await inclusionProof(leaves, 5, leaves.length);
 * await verifyInclusionProof(leaves[5]!, 5, leaves.length, proof, root); // throws if not included
 */
import { appendToEdge, edgeRoot } from "./compact-range.js";
import { bytesEqual, HASH_SIZE } from "./encoding.js";
import { AuditVerificationError } from "./errors.js";
import {
  type AsyncMerkleHasher,
  type Hashing,
  type HashResult,
  type MerkleHasher,
  runHashing,
  webCryptoHasher,
} from "./hasher.js";
import {
  checkIndex,
  checkSizes,
  consistencyProofRanges,
  inclusionProofRanges,
  type LeafRange,
  rangeNodes,
  type TreeNode,
} from "./tree.js";

/**
 * Upper bound on proof length checked before any hashing: an inclusion proof has at most
 * ⌈log2 n⌉ ≤ 53 hashes and a consistency proof at most ⌈log2 n⌉ + 1 for safe-integer sizes.
 */
export const MAX_PROOF_HASHES = 64;

const defaultHasher = webCryptoHasher;

/**
 * RFC 9162 §2.1.1 leaf hash of one entry's exact bytes.
 *
 * @example
 * const h = await leafHash(new TextEncoder().encode('{"index":0}'));
 */
export function leafHash<H extends MerkleHasher = AsyncMerkleHasher>(
  entry: Uint8Array,
  hasher: H = defaultHasher as H,
): HashResult<H, Uint8Array> {
  return runHashing(
    hasher,
    (function* (): Hashing<Uint8Array> {
      return yield [entry];
    })(),
  );
}

function* treeHash(leafHashes: readonly Uint8Array[], start: number, end: number): Hashing<Uint8Array> {
  const edge: Uint8Array[] = [];
  for (let i = start; i < end; i++) yield* appendToEdge(edge, i - start, leafHashes[i]!);
  return yield* edgeRoot(edge);
}

function checkLeafHashes(leafHashes: readonly Uint8Array[], size: number): void {
  if (size > leafHashes.length) {
    throw new AuditVerificationError(
      "ERR_AUDIT_BAD_RANGE",
      `tree size ${size} is larger than the ${leafHashes.length} leaves given`,
    );
  }
  for (let i = 0; i < size; i++) {
    if (leafHashes[i]?.length !== HASH_SIZE) throw new TypeError(`leaf hash ${i} is not 32 bytes`);
  }
}

/**
 * RFC 9162 §2.1.1 Merkle tree hash (MTH) of the given leaf hashes; the empty-tree hash for none.
 * O(n) node hashes, O(log n) memory.
 *
 * @example
 * const root = await rootFromLeaves(leafHashes);
 * const rootNow = rootFromLeaves(leafHashes, syncHasher); // no await with a sync hasher
 */
export function rootFromLeaves<H extends MerkleHasher = AsyncMerkleHasher>(
  leafHashes: readonly Uint8Array[],
  hasher: H = defaultHasher as H,
): HashResult<H, Uint8Array> {
  return runHashing(
    hasher,
    (function* (): Hashing<Uint8Array> {
      checkLeafHashes(leafHashes, leafHashes.length);
      return yield* treeHash(leafHashes, 0, leafHashes.length);
    })(),
  );
}

function* proofFromLeaves(leafHashes: readonly Uint8Array[], ranges: LeafRange[]): Hashing<Uint8Array[]> {
  const proof: Uint8Array[] = [];
  for (const { start, end } of ranges) proof.push(yield* treeHash(leafHashes, start, end));
  return proof;
}

/**
 * The inclusion proof of leaf `index` in the tree of the first `size` leaf hashes:
 * RFC 9162 §2.1.3.1 PATH(m, D[n]), nearest sibling first. O(size) hashes.
 *
 * @example
 * const proof = await inclusionProof(leafHashes, 3, 7); // 3 hashes
 */
export function inclusionProof<H extends MerkleHasher = AsyncMerkleHasher>(
  leafHashes: readonly Uint8Array[],
  index: number,
  size: number,
  hasher: H = defaultHasher as H,
): HashResult<H, Uint8Array[]> {
  return runHashing(
    hasher,
    (function* (): Hashing<Uint8Array[]> {
      const ranges = inclusionProofRanges(index, size);
      checkLeafHashes(leafHashes, size);
      return yield* proofFromLeaves(leafHashes, ranges);
    })(),
  );
}

/**
 * The consistency proof from the tree of the first `from` leaf hashes to the tree of the first
 * `to`: RFC 9162 §2.1.4.1 PROOF(m, D[n]). Empty when `from === to`. O(to) hashes.
 *
 * @example
 * const proof = await consistencyProof(leafHashes, 3, 7); // 4 hashes
 */
export function consistencyProof<H extends MerkleHasher = AsyncMerkleHasher>(
  leafHashes: readonly Uint8Array[],
  from: number,
  to: number,
  hasher: H = defaultHasher as H,
): HashResult<H, Uint8Array[]> {
  return runHashing(
    hasher,
    (function* (): Hashing<Uint8Array[]> {
      const ranges = consistencyProofRanges(from, to);
      checkLeafHashes(leafHashes, to);
      return yield* proofFromLeaves(leafHashes, ranges);
    })(),
  );
}

/**
 * Assembles a proof from stored nodes: for each range (from {@link inclusionProofRanges} or
 * {@link consistencyProofRanges}), the hashes of its {@link rangeNodes} folded from the right.
 * `lookup` returns the stored hash of a node (a server reads them all in one query first).
 * Costs the reads of at most 2·log2(n) nodes and fewer than log2(n) hashes.
 *
 * @example
 * const ranges = inclusionProofRanges(index, size);
 * const ids = ranges.flatMap(rangeNodes);
 * const stored = await store.getNodes(ids);                       // one round trip
 * const proof = await proofFromNodes(ranges, (id) => stored.get(`${id.level}/${id.index}`)!);
 */
export function proofFromNodes<H extends MerkleHasher = AsyncMerkleHasher>(
  ranges: readonly LeafRange[],
  lookup: (node: TreeNode) => Uint8Array,
  hasher: H = defaultHasher as H,
): HashResult<H, Uint8Array[]> {
  const job = function* (): Hashing<Uint8Array[]> {
    const proof: Uint8Array[] = [];
    for (const range of ranges) {
      const hashes = rangeNodes(range).map((node) => {
        const hash = lookup(node);
        if (hash?.length !== HASH_SIZE)
          throw new TypeError(`node ${node.level}/${node.index} is not 32 bytes`);
        return hash;
      });
      let root = hashes[hashes.length - 1]!;
      for (let i = hashes.length - 2; i >= 0; i--) root = yield [hashes[i]!, root];
      proof.push(root);
    }
    return proof;
  };
  return runHashing(hasher, job());
}

function checkProof(proof: readonly Uint8Array[]): void {
  if (!Array.isArray(proof) || proof.length > MAX_PROOF_HASHES) {
    throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", `a proof has at most ${MAX_PROOF_HASHES} hashes`);
  }
  for (const hash of proof) {
    if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
      throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "every proof hash is 32 bytes");
    }
  }
}

function checkHash(hash: Uint8Array, name: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", `${name} is not a 32-byte hash`);
  }
}

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/** RFC 9162 §2.1.3.2 steps 2–5, minus the final comparison with the root. */
function* inclusionRoot(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Hashing<Uint8Array> {
  // 2. Set fn to leaf_index and sn to tree_size - 1.  3. Set r to hash.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  // 4. For each value p in the inclusion_path array:
  for (const p of proof) {
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0) throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "inclusion proof is too long");
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (isOdd(fn) || fn === sn) {
      // i. Set r to HASH(0x01 || p || r).
      r = yield [p, r];
      // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn)
      //     is set or fn is 0.
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      // Otherwise: i. Set r to HASH(0x01 || r || p).
      r = yield [r, p];
    }
    // c. Finally, right-shift both fn and sn one time.
    fn = half(fn);
    sn = half(sn);
  }
  // 5. Compare sn to 0 (the root comparison is the caller's).
  if (sn !== 0) throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "inclusion proof is too short");
  return r;
}

/**
 * The root an inclusion proof leads to from `leafHash` at `index` in a tree of `size` leaves
 * (RFC 9162 §2.1.3.2 without the final comparison). Throws ERR_AUDIT_BAD_RANGE for
 * `index ≥ size`, ERR_AUDIT_BAD_PROOF for a proof of the wrong length.
 *
 * @example
 * const root = await rootFromInclusionProof(leaf, 5, 64, proof);
 */
export function rootFromInclusionProof<H extends MerkleHasher = AsyncMerkleHasher>(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  hasher: H = defaultHasher as H,
): HashResult<H, Uint8Array> {
  return runHashing(
    hasher,
    (function* (): Hashing<Uint8Array> {
      // 1. If leaf_index is greater than or equal to tree_size, then fail the proof verification.
      checkIndex(index, size);
      checkHash(leafHash, "the leaf hash");
      checkProof(proof);
      return yield* inclusionRoot(index, size, leafHash, proof);
    })(),
  );
}

/**
 * RFC 9162 §2.1.3.2: verifies that `leafHash` is leaf `index` of the tree of `size` leaves whose
 * root is `rootHash`. O(log n) hashes. Resolves to nothing; throws (rejects with) an
 * {@link AuditVerificationError}: ERR_AUDIT_BAD_RANGE, ERR_AUDIT_BAD_PROOF, or
 * ERR_AUDIT_ROOT_MISMATCH when the proof is well formed but leads to another root (an edited,
 * moved or foreign entry, or a tampered proof).
 *
 * @example
 * await verifyInclusionProof(leaf, 5, 64, proof, checkpoint.rootHash);
 */
export function verifyInclusionProof<H extends MerkleHasher = AsyncMerkleHasher>(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  rootHash: Uint8Array,
  hasher: H = defaultHasher as H,
): HashResult<H, void> {
  return runHashing(hasher, verifyInclusionJob(leafHash, index, size, proof, rootHash));
}

/** {@link verifyInclusionProof} as a {@link Hashing} job, for composing with other jobs. */
export function* verifyInclusionJob(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  rootHash: Uint8Array,
): Hashing<void> {
  checkIndex(index, size);
  checkHash(leafHash, "the leaf hash");
  checkHash(rootHash, "the root hash");
  checkProof(proof);
  const r = yield* inclusionRoot(index, size, leafHash, proof);
  // 5. … If sn is equal to 0 and r and the root_hash are equal, then the log has proven the
  //    inclusion of hash. Otherwise, fail the proof verification.
  if (!bytesEqual(r, rootHash)) {
    throw new AuditVerificationError(
      "ERR_AUDIT_ROOT_MISMATCH",
      `entry ${index} and its proof do not hash to the root of the tree of size ${size}`,
    );
  }
}

function isPowerOfTwo(n: number): boolean {
  let m = n;
  while (m > 1 && m % 2 === 0) m /= 2;
  return m === 1;
}

/** RFC 9162 §2.1.4.2, for 0 < first < second. */
function* consistencyCheck(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstHash: Uint8Array,
  secondHash: Uint8Array,
): Hashing<void> {
  // 1. If consistency_path is an empty array, stop and fail the proof verification.
  if (proof.length === 0)
    throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "consistency proof is empty");
  // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
  const path = isPowerOfTwo(first) ? [firstHash, ...proof] : proof;
  // 3. Set fn to first - 1 and sn to second - 1.
  let fn = first - 1;
  let sn = second - 1;
  // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5. Set both fr and sr to the first value in the consistency_path array.
  let fr = path[0]!;
  let sr = path[0]!;
  // 6. For each subsequent value c in the consistency_path array:
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0) throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "consistency proof is too long");
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (isOdd(fn) || fn === sn) {
      // i. Set fr to HASH(0x01 || c || fr).  ii. Set sr to HASH(0x01 || c || sr).
      fr = yield [c, fr];
      sr = yield [c, sr];
      // iii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn)
      //      is set or fn is 0.
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      // Otherwise: i. Set sr to HASH(0x01 || sr || c).
      sr = yield [sr, c];
    }
    // c. Finally, right-shift both fn and sn one time.
    fn = half(fn);
    sn = half(sn);
  }
  // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
  if (sn !== 0) throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "consistency proof is too short");
  if (!bytesEqual(fr, firstHash)) {
    throw new AuditVerificationError(
      "ERR_AUDIT_INCONSISTENT",
      `the proof does not lead to the old root: the tree of size ${first} is not a prefix of the tree of size ${second}`,
    );
  }
  if (!bytesEqual(sr, secondHash)) {
    throw new AuditVerificationError(
      "ERR_AUDIT_INCONSISTENT",
      `the proof does not lead to the new root of the tree of size ${second}`,
    );
  }
}

/**
 * RFC 9162 §2.1.4.2: verifies that the tree of `from` leaves with root `oldRoot` is a prefix of
 * the tree of `to` leaves with root `newRoot` — nothing was edited, reordered, inserted or
 * dropped in between. O(log n) hashes. For `from === to` the proof must be empty and the roots
 * equal. Throws (rejects with) ERR_AUDIT_BAD_RANGE (not 0 < from ≤ to), ERR_AUDIT_BAD_PROOF
 * (wrong shape) or ERR_AUDIT_INCONSISTENT.
 *
 * @example
 * await verifyConsistencyProof(witnessed.size, latest.size, proof, witnessed.rootHash, latest.rootHash);
 */
export function verifyConsistencyProof<H extends MerkleHasher = AsyncMerkleHasher>(
  from: number,
  to: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  hasher: H = defaultHasher as H,
): HashResult<H, void> {
  return runHashing(hasher, verifyConsistencyJob(from, to, proof, oldRoot, newRoot));
}

/** {@link verifyConsistencyProof} as a {@link Hashing} job, for composing with other jobs. */
export function* verifyConsistencyJob(
  from: number,
  to: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): Hashing<void> {
  checkSizes(from, to);
  checkHash(oldRoot, "the old root");
  checkHash(newRoot, "the new root");
  checkProof(proof);
  if (from === to) {
    // RFC 9162 §2.1.4.1: SUBPROOF(m, D[m], true) = {}; the trees must be the same tree.
    if (proof.length !== 0) {
      throw new AuditVerificationError(
        "ERR_AUDIT_BAD_PROOF",
        "the consistency proof between equal sizes is empty",
      );
    }
    if (!bytesEqual(oldRoot, newRoot)) {
      throw new AuditVerificationError("ERR_AUDIT_INCONSISTENT", `two different roots for tree size ${to}`);
    }
    return;
  }
  yield* consistencyCheck(from, to, proof, oldRoot, newRoot);
}
