/**
 * The shape of an RFC 9162 §2.1 tree, without any hashing: which subtrees make up a proof, and
 * which stored nodes make up a subtree. This is what lets a server answer a proof with O(log n)
 * reads of stored nodes instead of re-hashing the log.
 *
 * A {@link TreeNode} `{level, index}` is the perfect subtree over leaves
 * `[index·2^level, (index+1)·2^level)`; level 0 is the leaf hashes themselves. A
 * {@link CompactRange} reports each such node as it completes, so a server can store every node
 * once, on append.
 *
 * @example
 * inclusionProofRanges(2, 5);        // [{start: 3, end: 4}, {start: 0, end: 2}, {start: 4, end: 5}]
 * rangeNodes({ start: 4, end: 7 });  // [{level: 1, index: 2}, {level: 0, index: 6}]
 */
import { AuditVerificationError } from "./errors.js";

/** Leaves `[start, end)`: the subtree whose root hash is one element of a proof. */
export interface LeafRange {
  readonly start: number;
  readonly end: number;
}

/** The perfect subtree over leaves `[index·2^level, (index+1)·2^level)`. */
export interface TreeNode {
  readonly level: number;
  readonly index: number;
}

/** Largest power of two strictly below `n` (n ≥ 2): RFC 9162 §2.1.1's `k`. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Throws ERR_AUDIT_BAD_RANGE unless `value` is a safe integer ≥ `min`. */
export function checkCount(value: unknown, name: string, min = 0): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new AuditVerificationError(
      "ERR_AUDIT_BAD_RANGE",
      `${name} must be an integer between ${min} and 2^53 - 1`,
    );
  }
}

/** Throws ERR_AUDIT_BAD_RANGE unless `0 ≤ index < size`. */
export function checkIndex(index: unknown, size: unknown): asserts index is number {
  checkCount(size, "size", 1);
  checkCount(index, "index");
  if (index >= size) {
    throw new AuditVerificationError("ERR_AUDIT_BAD_RANGE", `index ${index} is not below tree size ${size}`);
  }
}

/** Throws ERR_AUDIT_BAD_RANGE unless `0 < from ≤ to`. */
export function checkSizes(from: unknown, to: unknown): asserts from is number {
  checkCount(from, "from", 1);
  checkCount(to, "to", 1);
  if (from > to) {
    throw new AuditVerificationError("ERR_AUDIT_BAD_RANGE", `from (${from}) is larger than to (${to})`);
  }
}

/**
 * The subtrees whose roots form the inclusion proof of leaf `index` in the tree of `size` leaves,
 * in proof order (nearest the leaf first): RFC 9162 §2.1.3.1, PATH(m, D[n]), unrolled. O(log n).
 *
 * @example
 * inclusionProofRanges(0, 3); // [{start: 1, end: 2}, {start: 2, end: 3}]
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  checkIndex(index, size);
  const topDown: LeafRange[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])  if m < k
    //               = PATH(m - k, D[k:n]) : MTH(D[0:k])  if m >= k
    if (index < start + k) {
      topDown.push({ start: start + k, end });
      end = start + k;
    } else {
      topDown.push({ start, end: start + k });
      start += k;
    }
  }
  return topDown.reverse();
}

/**
 * The subtrees whose roots form the consistency proof from the tree of `from` leaves to the tree
 * of `to` leaves, in proof order: RFC 9162 §2.1.4.1, PROOF(m, D[n]) = SUBPROOF(m, D[n], true),
 * unrolled. Empty when `from === to`. O(log n).
 *
 * @example
 * consistencyProofRanges(3, 7); // [{start: 2, end: 3}, {start: 3, end: 4}, {start: 0, end: 2}, {start: 4, end: 7}]
 */
export function consistencyProofRanges(from: number, to: number): LeafRange[] {
  checkSizes(from, to);
  const topDown: LeafRange[] = [];
  let start = 0;
  let end = to;
  // b of SUBPROOF: true while the subtree is still the whole old tree, whose root the verifier has.
  let wholeOldTree = true;
  for (;;) {
    const m = from - start;
    const n = end - start;
    if (m === n) {
      // SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
      if (!wholeOldTree) topDown.push({ start, end });
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      topDown.push({ start: start + k, end });
      end = start + k;
    } else {
      // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      topDown.push({ start, end: start + k });
      start += k;
      wholeOldTree = false;
    }
  }
  return topDown.reverse();
}

/**
 * The stored perfect subtrees that make up `range`, left to right (largest first for the ranges
 * a proof uses). The range's root is their hashes folded from the right:
 * `node(h0, node(h1, … node(h[n-2], h[n-1])))`. Use it with ranges from
 * {@link inclusionProofRanges} and {@link consistencyProofRanges}, or `{start: 0, end: size}`
 * (the tree's own root).
 *
 * @example
 * rangeNodes({ start: 0, end: 6 }); // [{level: 2, index: 0}, {level: 1, index: 2}]
 */
export function rangeNodes(range: LeafRange): TreeNode[] {
  checkCount(range.start, "range start");
  checkCount(range.end, "range end", range.start + 1);
  const nodes: TreeNode[] = [];
  let at = range.start;
  while (at < range.end) {
    let width = 1;
    let level = 0;
    while (at % (width * 2) === 0 && at + width * 2 <= range.end) {
      width *= 2;
      level++;
    }
    nodes.push({ level, index: at / width });
    at += width;
  }
  return nodes;
}
