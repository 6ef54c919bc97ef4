/**
 * Verification of Deputy's tamper-evident audit log (DESIGN §4 "Audit log"), runtime-agnostic:
 * Web Crypto only, so a browser, an edge worker or another company's auditor can check the log
 * holding nothing but its public key.
 *
 * - `merkle.ts`, `tree.ts`, `compact-range.ts`: the RFC 9162 §2.1 Merkle tree (leaf
 *   `SHA-256(0x00 || entry)`, node `SHA-256(0x01 || left || right)`), inclusion and consistency
 *   proofs, the node layout a server stores to answer proofs in O(log n) reads, and the compact
 *   range a server appends to.
 * - `checkpoint.ts`: C2SP tlog-checkpoint bodies (origin, size, base64 root).
 * - `note.ts`: C2SP signed notes with Ed25519 keys, verifier and signer key strings.
 * - `verify.ts`: the client checks, each throwing an {@link AuditVerificationError} with a stable
 *   code.
 *
 * **Fast path.** Hashing defaults to `crypto.subtle` (async). Pass a {@link SyncMerkleHasher}
 * (`createSyncHasher(sha256)` around node:crypto) and every hash-only function returns its result
 * synchronously: no promise per hash, which is what appending 20,000 entries/s or re-verifying a
 * million entries needs.
 *
 * Conformance vectors: `spec/vectors/audit/` (README there).
 *
 * @example
 * import { checkWitness, decodeHash, verifyCheckpoint, verifyInclusion } from "@deputy/protocol";
 *
 * const head = await verifyCheckpoint(checkpointText, meta.audit_log_public_key, "deputy.example/audit");
 * const { hashes } = await (await fetch(`${api}/audit/proofs/inclusion?index=41&size=${head.size}`)).json();
 * await verifyInclusion({ entryBytes, index: 41, size: head.size, proof: hashes.map(decodeHash), rootHash: head.rootHash });
 * witness = await checkWitness(witness, head, consistencyHashes.map(decodeHash));
 */
export { type Checkpoint, type CheckpointInput, formatCheckpoint, parseCheckpoint } from "./checkpoint.js";
export { CompactRange, type CompletedNode } from "./compact-range.js";
export { decodeHash, encodeHash } from "./encoding.js";
export {
  AUDIT_ERROR_CODES,
  type AuditErrorCode,
  AuditVerificationError,
  isAuditVerificationError,
} from "./errors.js";
export {
  type AsyncMerkleHasher,
  createSyncHasher,
  emptyRoot,
  type HashResult,
  type MerkleHasher,
  type SyncMerkleHasher,
  webCryptoHasher,
} from "./hasher.js";
export {
  consistencyProof,
  inclusionProof,
  leafHash,
  MAX_PROOF_HASHES,
  proofFromNodes,
  rootFromInclusionProof,
  rootFromLeaves,
  verifyConsistencyProof,
  verifyInclusionProof,
} from "./merkle.js";
export {
  ed25519KeyHash,
  formatVerifierKey,
  isValidKeyName,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  type NoteSigner,
  type OpenedNote,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type VerifierKey,
} from "./note.js";
export {
  consistencyProofRanges,
  inclusionProofRanges,
  type LeafRange,
  rangeNodes,
  type TreeNode,
} from "./tree.js";
export {
  type ConsistencyCheck,
  checkWitness,
  type EntriesCheck,
  type InclusionCheck,
  type TreeHead,
  verifyCheckpoint,
  verifyConsistency,
  verifyEntries,
  verifyInclusion,
} from "./verify.js";
