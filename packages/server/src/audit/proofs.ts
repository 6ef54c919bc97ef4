/**
 * Inclusion and consistency proofs answered from stored tree nodes (levels 1–3 folded from their
 * stored leaves, see tree-nodes.ts): O(log n) reads in one query,
 * never a rebuild. The proof's subtrees come from the protocol library (RFC 9162 §2.1.3.1 PATH and
 * §2.1.4.1 PROOF, unrolled); each subtree's hash is a stored node when the subtree is perfect and
 * aligned, else the fold of the stored perfect subtrees it splits into at the largest power of two
 * (RFC 9162 §2.1.1) — at most 2·log2(n) node reads and fewer than log2(n) hashes per proof.
 *
 * @example
 * const hashes = await inclusionProofFromStore(store, 41, 64);   // Uint8Array[]
 * const path = await consistencyProofFromStore(store, 32, 64);
 */
import {
  consistencyProofRanges,
  inclusionProofRanges,
  type LeafRange,
  proofFromNodes,
  rangeNodes,
} from "@deputy/protocol";
import type { Store } from "../store/index.js";
import { merkleHasher } from "./hasher.js";
import { treeNodes } from "./tree-nodes.js";

/**
 * Thrown when a node a proof needs is not stored: the tree is damaged (or was tampered with).
 *
 * @example
 * if (e instanceof MissingNodeError) log.error({ err: e }, "audit tree damaged");
 */
export class MissingNodeError extends Error {
  override readonly name = "MissingNodeError";
}

/**
 * The hashes of `ranges` (each a subtree of a tree no larger than the integrated one), from the
 * stored nodes, fetched in one query.
 *
 * @example
 * const [root] = await subtreeHashes(store, [{ start: 0, end: size }]);
 */
export async function subtreeHashes(store: Store, ranges: readonly LeafRange[]): Promise<Uint8Array[]> {
  const ids = ranges.flatMap((r) => rangeNodes(r));
  const stored = await treeNodes(store, ids);
  return proofFromNodes(
    ranges,
    (node) => {
      const hash = stored.get(`${node.level}/${node.index}`);
      if (!hash) throw new MissingNodeError(`tree node ${node.level}/${node.index} is not stored`);
      return hash;
    },
    merkleHasher,
  );
}

/**
 * RFC 9162 §2.1.3.1 inclusion proof of entry `index` in the tree of `size` entries. The caller
 * checks `0 ≤ index < size ≤ integrated size`.
 *
 * @example
 * const proof = await inclusionProofFromStore(store, 5, 8); // 3 hashes
 */
export function inclusionProofFromStore(store: Store, index: number, size: number): Promise<Uint8Array[]> {
  return subtreeHashes(store, inclusionProofRanges(index, size));
}

/**
 * RFC 9162 §2.1.4.1 consistency proof from the tree of `from` entries to the tree of `to`. The
 * caller checks `0 < from ≤ to ≤ integrated size`; equal sizes give an empty proof.
 *
 * @example
 * const proof = await consistencyProofFromStore(store, 3, 7); // 4 hashes
 */
export function consistencyProofFromStore(store: Store, from: number, to: number): Promise<Uint8Array[]> {
  return subtreeHashes(store, consistencyProofRanges(from, to));
}
