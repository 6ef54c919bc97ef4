/**
 * What a client of the audit log calls: is this entry in the log, did the log only grow, is this
 * checkpoint the log's, and has the log forked or rolled back since I last looked? Each check
 * resolves to its result or throws (rejects with) an {@link AuditVerificationError} whose `code`
 * names what is wrong; spec/vectors/audit/attacks.json pins the code of every known attack.
 *
 * Hash-only checks take an optional hasher: the default (Web Crypto) returns promises; a
 * {@link SyncMerkleHasher} makes them synchronous, which is how a CLI re-verifies a million entries
 * quickly.
 *
 * @example
 * const head = await verifyCheckpoint(noteText, metadata.audit_log_public_key, "deputy.example/audit");
 * await verifyInclusion({ entryBytes, index: 41, size: head.size, proof, rootHash: head.rootHash });
 * witness = await checkWitness(witness, head, consistencyProofHashes);
 */
import { type Checkpoint, parseCheckpoint } from "./checkpoint.js";
import { appendToEdge, appendToEdgeSync, edgeRoot } from "./compact-range.js";
import { bytesEqual, HASH_SIZE } from "./encoding.js";
import { AuditVerificationError } from "./errors.js";
import {
  type AsyncMerkleHasher,
  checkDigest,
  emptyRoot,
  type Hashing,
  type HashResult,
  type MerkleHasher,
  runHashing,
  webCryptoHasher,
} from "./hasher.js";
import { verifyConsistencyJob, verifyInclusionJob } from "./merkle.js";
import { openNote, type VerifierKey } from "./note.js";
import { checkCount } from "./tree.js";

/** A tree size and its root: what a checkpoint states and what a witness remembers. */
export interface TreeHead {
  readonly size: number;
  readonly rootHash: Uint8Array;
}

export interface InclusionCheck {
  /** The exact bytes the log hashed (`GET /v1/audit/entries/{index}`). */
  readonly entryBytes: Uint8Array;
  readonly index: number;
  /** The size of the tree the proof is for (a verified checkpoint's). */
  readonly size: number;
  /** `GET /v1/audit/proofs/inclusion?index=&size=` hashes, decoded ({@link decodeHash}). */
  readonly proof: readonly Uint8Array[];
  /** The root of that tree, from a verified checkpoint. */
  readonly rootHash: Uint8Array;
}

export interface ConsistencyCheck {
  readonly from: number;
  readonly to: number;
  /** `GET /v1/audit/proofs/consistency?from=&to=` hashes, decoded. */
  readonly proof: readonly Uint8Array[];
  readonly oldRoot: Uint8Array;
  readonly newRoot: Uint8Array;
}

export interface EntriesCheck {
  /** The log's entries, in order, as the exact bytes hashed (at least `size` of them). */
  readonly entries: Iterable<Uint8Array>;
  readonly size: number;
  readonly rootHash: Uint8Array;
}

const defaultHasher = webCryptoHasher;

/**
 * Verifies that `entryBytes` is entry `index` of the tree of `size` entries with root `rootHash`
 * (RFC 9162 §2.1.3.2). Codes: ERR_AUDIT_BAD_RANGE, ERR_AUDIT_BAD_PROOF, ERR_AUDIT_ROOT_MISMATCH
 * (the entry was edited, moved, or never logged; or the proof was tampered with).
 *
 * @example
 * await verifyInclusion({ entryBytes, index: 41, size: 64, proof, rootHash: head.rootHash });
 */
export function verifyInclusion<H extends MerkleHasher = AsyncMerkleHasher>(
  check: InclusionCheck,
  hasher: H = defaultHasher as H,
): HashResult<H, void> {
  const job = function* (): Hashing<void> {
    if (!(check.entryBytes instanceof Uint8Array)) throw new TypeError("entryBytes must be a Uint8Array");
    const leaf = yield [check.entryBytes];
    yield* verifyInclusionJob(leaf, check.index, check.size, check.proof, check.rootHash);
  };
  return runHashing(hasher, job());
}

/**
 * Verifies that the tree of `from` entries with root `oldRoot` is a prefix of the tree of `to`
 * entries with root `newRoot` (RFC 9162 §2.1.4.2). Codes: ERR_AUDIT_BAD_RANGE (not
 * 0 < from ≤ to), ERR_AUDIT_BAD_PROOF, ERR_AUDIT_INCONSISTENT (history was rewritten).
 *
 * @example
 * await verifyConsistency({ from: 32, to: 64, proof, oldRoot, newRoot });
 */
export function verifyConsistency<H extends MerkleHasher = AsyncMerkleHasher>(
  check: ConsistencyCheck,
  hasher: H = defaultHasher as H,
): HashResult<H, void> {
  return runHashing(
    hasher,
    verifyConsistencyJob(check.from, check.to, check.proof, check.oldRoot, check.newRoot),
  );
}

/**
 * Opens a checkpoint note with the log's verifier key, then parses its body and checks its origin.
 * The order matters: the body is not read before a known key's signature verifies. Codes: those of
 * {@link openNote} (ERR_AUDIT_MALFORMED_NOTE, ERR_AUDIT_BAD_SIGNATURE, ERR_AUDIT_UNKNOWN_KEY,
 * ERR_AUDIT_BAD_KEY), then ERR_AUDIT_MALFORMED_CHECKPOINT, ERR_AUDIT_WRONG_ORIGIN, and
 * ERR_AUDIT_ROOT_MISMATCH for a size-0 checkpoint whose root is not the empty-tree hash.
 *
 * @example
 * const head = await verifyCheckpoint(await res.text(), metadata.audit_log_public_key, "deputy.example/audit");
 * head.size; head.rootHash;
 */
export async function verifyCheckpoint(
  note: string | Uint8Array,
  verifierKey: string | VerifierKey,
  expectedOrigin: string,
): Promise<Checkpoint> {
  const { text } = await openNote(note, [verifierKey]);
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== expectedOrigin) {
    throw new AuditVerificationError(
      "ERR_AUDIT_WRONG_ORIGIN",
      `the checkpoint is for log '${checkpoint.origin}', not '${expectedOrigin}'`,
    );
  }
  if (checkpoint.size === 0 && !bytesEqual(checkpoint.rootHash, emptyRoot())) {
    throw new AuditVerificationError("ERR_AUDIT_ROOT_MISMATCH", "an empty tree's root is SHA-256 of nothing");
  }
  return checkpoint;
}

function checkHead(head: TreeHead, name: string): void {
  checkCount(head?.size, `${name} size`);
  if (!(head.rootHash instanceof Uint8Array) || head.rootHash.length !== HASH_SIZE) {
    throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", `${name} root is not a 32-byte hash`);
  }
}

/**
 * What a witness does with each new verified checkpoint: accepts it only if it extends the last
 * one it accepted, and returns the new state to keep. With no previous state it trusts `next`
 * (trust on first use). Codes:
 *
 * - ERR_AUDIT_ROLLBACK: `next` is smaller than `previous` (the log was truncated, or an old
 *   checkpoint is replayed);
 * - ERR_AUDIT_FORK: same size, different root: two validly signed, contradicting views of the log;
 * - ERR_AUDIT_INCONSISTENT / ERR_AUDIT_BAD_PROOF: the consistency proof from `previous` to `next`
 *   fails (entries were edited, reordered, inserted or dropped);
 *
 * `consistencyProof` is the proof from `previous.size` to `next.size` (empty if the sizes are equal
 * or `previous` is null or empty).
 *
 * @example
 * let witness = loadWitness();                         // TreeHead | null
 * const head = await verifyCheckpoint(note, vkey, origin);
 * witness = await checkWitness(witness, head, proof);  // throws on fork, rollback, rewrite
 * saveWitness(witness);
 */
export function checkWitness<H extends MerkleHasher = AsyncMerkleHasher>(
  previous: TreeHead | null,
  next: TreeHead,
  consistencyProof: readonly Uint8Array[],
  hasher: H = defaultHasher as H,
): HashResult<H, TreeHead> {
  const job = function* (): Hashing<TreeHead> {
    checkHead(next, "the new checkpoint's");
    const accepted: TreeHead = { size: next.size, rootHash: new Uint8Array(next.rootHash) };
    if (previous === null) return accepted;
    checkHead(previous, "the witnessed checkpoint's");
    if (next.size < previous.size) {
      throw new AuditVerificationError(
        "ERR_AUDIT_ROLLBACK",
        `the log went back from ${previous.size} to ${next.size} entries`,
      );
    }
    if (next.size === previous.size && !bytesEqual(next.rootHash, previous.rootHash)) {
      throw new AuditVerificationError(
        "ERR_AUDIT_FORK",
        `two different roots for ${next.size} entries: the log has forked`,
      );
    }
    if (previous.size === 0) {
      if (consistencyProof.length !== 0) {
        throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "the empty tree needs no consistency proof");
      }
      return accepted;
    }
    yield* verifyConsistencyJob(previous.size, next.size, consistencyProof, previous.rootHash, next.rootHash);
    return accepted;
  };
  return runHashing(hasher, job());
}

/**
 * Recomputes the root over the first `size` entries of a log and compares it with a (verified)
 * checkpoint's: what `deputy audit verify` does, in O(log n) memory. Entries past `size` (appended
 * since the checkpoint) are not read. Codes: ERR_AUDIT_BAD_RANGE, ERR_AUDIT_ROOT_MISMATCH (an
 * entry was edited, reordered, inserted or dropped, or there are fewer than `size` entries). With a
 * {@link SyncMerkleHasher} over node:crypto this runs a million entries in a few seconds.
 *
 * @example
 * verifyEntries({ entries, size: head.size, rootHash: head.rootHash }, syncHasher);
 */
export function verifyEntries<H extends MerkleHasher = AsyncMerkleHasher>(
  check: EntriesCheck,
  hasher: H = defaultHasher as H,
): HashResult<H, void> {
  const job = function* (): Hashing<void> {
    checkHead(check, "the checkpoint's");
    const edge: Uint8Array[] = [];
    let count = 0;
    for (const entry of check.entries) {
      if (count === check.size) break;
      if (hasher.sync === true) {
        // The generator machinery costs more than the hashing here: take the direct path.
        appendToEdgeSync(edge, count, checkDigest(hasher.leaf(entry)), hasher, null);
      } else {
        yield* appendToEdge(edge, count, yield [entry]);
      }
      count++;
    }
    if (count !== check.size) {
      throw new AuditVerificationError(
        "ERR_AUDIT_ROOT_MISMATCH",
        `the log has ${count} entries, the checkpoint ${check.size}`,
      );
    }
    const root = yield* edgeRoot(edge);
    if (!bytesEqual(root, check.rootHash)) {
      throw new AuditVerificationError(
        "ERR_AUDIT_ROOT_MISMATCH",
        `the ${count} entries do not hash to the checkpoint's root`,
      );
    }
  };
  return runHashing(hasher, job());
}
