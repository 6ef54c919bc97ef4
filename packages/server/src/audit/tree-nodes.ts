/**
 * Which Merkle tree nodes the audit ledger stores, and reading any node back.
 *
 * Stored: the leaves (level 0, which `deputy audit verify` compares entries with to name an edited
 * index) and every perfect subtree of level {@link FIRST_STORED_INNER_LEVEL} (16 leaves) or more.
 * Levels 1–3 are not stored: each is the fold of at most 8 stored leaves, which {@link treeNodes}
 * reads in the same query as the stored nodes and hashes (RFC 9162 §2.1.1), so a proof is still one
 * query of O(log n) rows. Storing them cost 7 of every 8 inner-node rows (0.875 of the 2 rows per
 * entry), each a heap tuple and a primary-key insertion on the append path of PostgreSQL.
 *
 * Rows that older versions stored at levels 1–3 are left in place and never read.
 *
 * @example
 * const hashes = await treeNodes(store, rangeNodes({ start: 0, end: size }));
 * hashes.get("2/5"); // the hash of leaves 20..23, folded from the stored leaves
 */
import type { Store } from "../store/index.js";
import { merkleHasher } from "./hasher.js";

/** The lowest inner level stored; levels 1 to this minus one are folded from the leaves. */
export const FIRST_STORED_INNER_LEVEL = 4;

/** Whether the integrator stores a node of `level` (see the module docs). */
export function isStoredLevel(level: number): boolean {
  return level === 0 || level >= FIRST_STORED_INNER_LEVEL;
}

/**
 * The hashes of the given nodes, keyed `${level}/${index}`, in one store query: stored nodes as
 * stored, levels 1–3 folded from their leaves. A node is absent from the map when it (or one of
 * its leaves) is not stored.
 *
 * @example
 * const got = await treeNodes(store, [{ level: 2, index: 0 }, { level: 5, index: 1 }]);
 */
export async function treeNodes(
  store: Store,
  ids: ReadonlyArray<{ level: number; index: number }>,
): Promise<Map<string, Uint8Array>> {
  const wanted = new Map<string, { level: number; index: number }>();
  const folded: Array<{ level: number; index: number }> = [];
  for (const id of ids) {
    if (isStoredLevel(id.level)) {
      wanted.set(`${id.level}/${id.index}`, id);
      continue;
    }
    folded.push(id);
    const first = id.index * 2 ** id.level;
    for (let leaf = first; leaf < first + 2 ** id.level; leaf++)
      wanted.set(`0/${leaf}`, { level: 0, index: leaf });
  }
  const hashes = await store.auditTree.nodes([...wanted.values()]);
  for (const id of folded) {
    const hash = fold(hashes, id.level, id.index);
    if (hash) hashes.set(`${id.level}/${id.index}`, hash);
  }
  return hashes;
}

/** RFC 9162 §2.1.1: MTH of the perfect subtree (level, index), from its stored leaves. */
function fold(leaves: Map<string, Uint8Array>, level: number, index: number): Uint8Array | undefined {
  if (level === 0) return leaves.get(`0/${index}`);
  const left = fold(leaves, level - 1, 2 * index);
  const right = left && fold(leaves, level - 1, 2 * index + 1);
  return right && merkleHasher.node(left!, right);
}
