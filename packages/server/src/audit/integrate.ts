/**
 * One integration step of the audit ledger: sequence the entries appended since the integrated
 * tree size into the Merkle tree (RFC 9162 §2.1), store the perfect-subtree nodes they complete,
 * move the tree state and store a signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note).
 *
 * The audit log's index of keys (`audit_entry_ids`: acting agents and tokens, and on SQLite
 * principals, actions, resources and decisions) is written here too, in key order, rather than
 * by every append; and only once {@link StepOptions.indexEvery} integrated entries wait for it,
 * or when the log is idle. Indexing dirties about one page per distinct key it covers, whether it
 * covers a few hundred entries or thousands: done in every step (ten a second under load) those
 * pages were most of what the integrator wrote, and introspection served 1.2–1.3 times as many
 * requests without them. Queries scan the entries past the index.
 *
 * The expensive part (reading the entries, hashing them, signing the checkpoint) runs before the
 * transaction; the transaction only locks the state row, checks that nobody moved the tree
 * meanwhile, and writes. That keeps the write lock — which on SQLite is the whole database's,
 * shared with every request — held for the inserts alone. If another integrator (another worker
 * or replica) moved the tree first, or holds the state lock right now (it is never waited for,
 * see `AuditTreeStore.lockState`), the write is skipped and the caller reloads: the work is
 * idempotent, and the row lock makes the state move exactly once per size.
 *
 * @example
 * const step = await integrateStep(store, { range, key, clock, batchSize: 10_000 });
 * if (step.kind === "integrated") console.log(`tree size ${step.size}`);
 */
import {
  CompactRange,
  formatCheckpoint,
  rangeNodes,
  type SyncMerkleHasher,
  signNote,
} from "@deputy/protocol";
import type { Clock } from "../clock.js";
import type { AuditTreeNodeRecord, AuditTreeState, Store } from "../store/index.js";
import { merkleHasher } from "./hasher.js";
import type { LeafCache } from "./leaf-cache.js";
import type { LogKey } from "./log-key.js";
import { isStoredLevel, treeNodes } from "./tree-nodes.js";

/**
 * The stored tree does not hash to its recorded root: refuse to extend it.
 *
 * @example
 * if (err instanceof TreeIntegrityError) log.error({ err }, "audit tree damaged");
 */
export class TreeIntegrityError extends Error {
  override readonly name = "TreeIntegrityError";
}

export type IntegrationStep =
  | { kind: "idle"; size: number }
  /** The log holds fewer entries than the tree (rows were deleted), or a hole stops integration. */
  | { kind: "stalled"; size: number; logSize: number }
  /** Another integrator moved the tree first; the in-memory range must be reloaded. */
  | { kind: "lost-race"; size: number }
  | {
      kind: "integrated";
      from: number;
      size: number;
      rootHash: Uint8Array;
      /** Entries still waiting after this step. */
      backlog: number;
      range: CompactRange<SyncMerkleHasher>;
    };

export interface StepOptions {
  /** The right edge at some size, if the caller kept one; reloaded from the store when stale. */
  range: CompactRange<SyncMerkleHasher> | null;
  key: LogKey;
  clock: Clock;
  /** Most entries integrated by one step (one read, one transaction). */
  batchSize: number;
  /** Leaf hashes of committed entries known without reading them (audit/leaf-cache.ts). */
  leaves?: LeafCache;
  /**
   * Integrated entries left out of the key index until a step indexes them all (default
   * {@link INDEX_EVERY}); an idle log is indexed up to its tree whatever the count.
   */
  indexEvery?: number;
}

/** Default of {@link StepOptions.indexEvery}: about the most integrated entries a query by key scans. */
export const INDEX_EVERY = 8192;

/**
 * Runs one integration step; see the module docs.
 *
 * @example
 * const step = await integrateStep(store, { range: null, key, clock, batchSize: 10_000 });
 */
export async function integrateStep(store: Store, options: StepOptions): Promise<IntegrationStep> {
  const state = await store.auditTree.state();
  const logSize = await store.audit.size();
  if (logSize === state.size) {
    await indexIdle(store, state.size);
    return { kind: "idle", size: state.size };
  }
  if (logSize < state.size) return { kind: "stalled", size: state.size, logSize };
  const base = await rangeAt(store, state, options.range);
  const range = CompactRange.restore(base.size, base.hashes, merkleHasher);
  const end = Math.min(logSize, state.size + options.batchSize);
  // The leaf hashes of the entries as stored: from the cache when it holds the next ones (a step
  // then integrates as far as it goes), else read back.
  // Hashing runs in slices with a pass of the event loop between them: thousands of entries
  // hashed in one go held up every request (and the appends feeding this log) for 10–20 ms.
  const cached: Uint8Array[] = [];
  for (let at = state.size; options.leaves && at < end; ) {
    const slice = options.leaves.prefix(at, Math.min(end, at + HASH_SLICE));
    for (const leaf of slice) cached.push(leaf);
    at += slice.length;
    if (slice.length < HASH_SLICE) break;
    await nextPass();
  }
  const leaves = cached.length > 0 ? cached : await store.audit.leafHashes(state.size, end);
  if (leaves.length === 0) return { kind: "stalled", size: state.size, logSize };

  // Level 0 is the leaf itself; each append also returns the perfect subtrees it completed, of
  // which levels 1–3 are not stored (tree-nodes.ts).
  const nodes: AuditTreeNodeRecord[] = [];
  for (let k = 0; k < leaves.length; k++) {
    if (k > 0 && k % HASH_SLICE === 0) await nextPass();
    for (const { node, hash } of range.append(leaves[k]!)) {
      if (isStoredLevel(node.level)) nodes.push({ level: node.level, index: node.index, hash });
    }
  }
  const size = range.size;
  const rootHash = range.root();
  const note = await signNote(
    formatCheckpoint({ origin: options.key.origin, size, rootHash }),
    options.key.signer,
  );
  const now = options.clock.now();
  const moved = await store.transaction(async (tx) => {
    const locked = await tx.auditTree.lockState();
    if (!locked || locked.size !== state.size || !sameBytes(locked.rootHash, state.rootHash)) return false;
    await tx.auditTree.putNodes(nodes);
    await tx.auditTree.setState({ size, rootHash, updatedAt: now });
    const indexed = await tx.auditTree.indexedSize();
    if (size - indexed >= (options.indexEvery ?? INDEX_EVERY)) await tx.auditTree.indexEntries(indexed, size);
    await tx.auditTree.addCheckpoint({ size, rootHash, note, createdAt: now });
    return true;
  });
  if (!moved) return { kind: "lost-race", size: state.size };
  return { kind: "integrated", from: state.size, size, rootHash, backlog: logSize - size, range };
}

/**
 * An idle log's tree, indexed to its end: once appends stop, queries by key scan nothing. A no-op (one read) when the index is complete or another integrator holds the state.
 */
async function indexIdle(store: Store, treeSize: number): Promise<void> {
  if ((await store.auditTree.indexedSize()) >= treeSize) return;
  await store.transaction(async (tx) => {
    const locked = await tx.auditTree.lockState();
    if (!locked) return;
    const indexed = await tx.auditTree.indexedSize();
    if (indexed < locked.size) await tx.auditTree.indexEntries(indexed, locked.size);
  });
}

/** Entries hashed between two passes of the event loop (about 1 ms of work). */
const HASH_SLICE = 256;

const nextPass = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The right edge of the tree at `state`: the caller's, when it is at that size and root; else
 * rebuilt from the nodes `rangeNodes({start: 0, end: size})` (one query, O(log n) rows; levels 1–3
 * folded from their leaves) and checked against the recorded root.
 *
 * @example
 * const range = await rangeAt(store, await store.auditTree.state(), null);
 */
export async function rangeAt(
  store: Store,
  state: AuditTreeState,
  kept: CompactRange<SyncMerkleHasher> | null,
): Promise<CompactRange<SyncMerkleHasher>> {
  if (kept && kept.size === state.size && sameBytes(kept.root(), state.rootHash)) return kept;
  if (state.size === 0) return new CompactRange(merkleHasher);
  const ids = rangeNodes({ start: 0, end: state.size });
  const stored = await treeNodes(store, ids);
  const hashes = ids.map((id) => {
    const hash = stored.get(`${id.level}/${id.index}`);
    if (!hash) throw new TreeIntegrityError(`tree node ${id.level}/${id.index} is missing`);
    return hash;
  });
  const range = CompactRange.restore(state.size, hashes, merkleHasher);
  if (!sameBytes(range.root(), state.rootHash)) {
    throw new TreeIntegrityError(`the stored nodes do not hash to the recorded root of size ${state.size}`);
  }
  return range;
}

/**
 * Byte equality (not secret material, so no constant-time need).
 *
 * @example
 * sameBytes(range.root(), state.rootHash);
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
