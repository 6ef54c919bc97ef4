/**
 * `deputy audit verify`: checks a whole log as an outside verifier would, holding nothing but the
 * log's public key (pinned, or taken from the metadata on first use) and its own witness state.
 *
 * 1. The checkpoint's signature (C2SP signed note) with the log key; its origin is the key name.
 * 2. Against the last checkpoint this verifier saw: same size and another root is a fork, a
 *    smaller size a rollback, and a larger one must come with a valid consistency proof
 *    (RFC 9162 §2.1.4.2) — refused before anything else is read.
 * 3. Every entry, fetched in bulk, is hashed (`SHA-256(0x00 || entry)`) into the root
 *    (RFC 9162 §2.1.1), which must equal the signed root; a short log names its first missing
 *    index.
 * 4. If the root differs, a second pass compares each entry's leaf hash with the leaf the
 *    server's tree was built from, which names the first edited (or reordered, or inserted)
 *    entry; if every leaf matches, the stored tree itself was rewritten.
 *
 * Hashing is synchronous over node:crypto (the protocol library's sync hasher), and the next
 * chunk is fetched while the current one is hashed, so a million entries take seconds.
 *
 * @example
 * const report = await verifyLog({ source, witness, onProgress: (done, total) => … });
 * report.size; report.rootHash;
 */
import {
  type AuditErrorCode,
  CompactRange,
  checkWitness,
  decodeHash,
  encodeHash,
  isAuditVerificationError,
  parseVerifierKey,
  verifyCheckpoint,
} from "@deputy/protocol";
import { hashEntry, merkleHasher } from "../hasher.js";
import { sameBytes } from "../integrate.js";
import type { LogSource } from "./log-source.js";
import type { WitnessedLog } from "./witness.js";

/** Entries (and leaves) per bulk request: the server's maximum. */
export const VERIFY_CHUNK = 10_000;

export type LogErrorCode =
  | AuditErrorCode
  | "ERR_AUDIT_ENTRY_EDITED"
  | "ERR_AUDIT_ENTRY_MISSING"
  | "ERR_AUDIT_KEY_CHANGED"
  | "ERR_AUDIT_NO_KEY";

/**
 * Why a log failed verification; `index` is the first bad entry when there is one.
 *
 * @example
 * if (e instanceof LogVerificationError && e.index !== undefined) console.error(`bad entry ${e.index}`);
 */
export class LogVerificationError extends Error {
  override readonly name = "LogVerificationError";
  constructor(
    readonly code: LogErrorCode,
    message: string,
    readonly index?: number,
  ) {
    super(message);
  }
}

export interface VerifyLogOptions {
  source: LogSource;
  /** A verifier key the user pinned (`--log-key`); otherwise the metadata's is used. */
  pinnedKey?: string | undefined;
  /** What this verifier saw last for this log, if anything (any origin; matched by origin). */
  witness: (origin: string) => WitnessedLog | undefined;
  onProgress?: (verified: number, total: number) => void;
  onWarning?: (message: string) => void;
  chunk?: number;
}

export interface VerifyLogReport {
  origin: string;
  key: string;
  size: number;
  rootHash: Uint8Array;
  checkpoint: string;
  /** The size this verifier had seen before (null on first use). */
  previousSize: number | null;
}

export async function verifyLog(options: VerifyLogOptions): Promise<VerifyLogReport> {
  const { source } = options;
  const chunk = options.chunk ?? VERIFY_CHUNK;
  const key = await resolveKey(options);
  const origin = (await audit(() => parseVerifierKey(key))).name;
  const seen = options.witness(origin);
  if (options.pinnedKey === undefined && !seen) {
    options.onWarning?.(
      `the log key is not pinned: trusting ${key} from the server's metadata on first use. Pin it with --log-key; the witness file remembers it from now on.`,
    );
  }
  if (seen && seen.key !== key && options.pinnedKey === undefined) {
    throw new LogVerificationError(
      "ERR_AUDIT_KEY_CHANGED",
      `the log key changed since the last verification (was ${seen.key}, now ${key}); refusing. If the operator rotated it, pin the new key with --log-key`,
    );
  }
  const checkpoint = await source.checkpoint();
  const head = await audit(() => verifyCheckpoint(checkpoint, key, origin));

  // 2. Fork, rollback or rewritten history since the last checkpoint seen: refuse loudly.
  const previous = seen ? { size: seen.size, rootHash: decodeHash(seen.root) } : null;
  if (previous) {
    const needsProof = previous.size > 0 && previous.size < head.size;
    const proof = needsProof ? (await source.consistency(previous.size, head.size)).map(decodeHash) : [];
    await audit(() => checkWitness(previous, head, proof, merkleHasher));
  }

  // 3 and 4. Every entry re-hashed into the root, which must be the signed one. Only if it is
  // not, a second pass compares each entry with the leaf the tree was built from, to name the
  // first bad index (the leaves cost a third of the transfer, so the common case skips them).
  const range = new CompactRange(merkleHasher);
  let missing: LogVerificationError | null = null;
  // The entries no longer hash to the root witnessed before (checked locally as well as by proof).
  let rewritten = false;
  await eachChunk(source, head.size, chunk, false, (start, entries) => {
    let at = 0;
    for (let i = start; i < start + entries.count; i++) {
      const nl = entries.bytes.indexOf(0x0a, at);
      range.append(hashEntry(entries.bytes.subarray(at, nl)));
      at = nl + 1;
      if (previous && range.size === previous.size && !sameBytes(range.root(), previous.rootHash)) {
        rewritten = true;
      }
    }
    options.onProgress?.(start + entries.count, head.size);
  }).catch((e: unknown) => {
    // A short log: an entry before the gap may have been edited too, and that one is first.
    if (!(e instanceof LogVerificationError && e.code === "ERR_AUDIT_ENTRY_MISSING")) throw e;
    missing = e;
  });
  if (missing || rewritten || !sameBytes(range.root(), head.rootHash)) {
    await eachChunk(source, head.size, chunk, true, (start, entries, leaves) => {
      let at = 0;
      for (let i = start; i < start + entries.count; i++) {
        const nl = entries.bytes.indexOf(0x0a, at);
        const leaf = hashEntry(entries.bytes.subarray(at, nl));
        at = nl + 1;
        const served = leaves!.subarray((i - start) * 32, (i - start + 1) * 32);
        if (served.length !== 32 || !sameBytes(leaf, served)) {
          throw new LogVerificationError(
            "ERR_AUDIT_ENTRY_EDITED",
            `entry ${i} was altered: its bytes no longer hash to the leaf the log's tree was built from (first bad index ${i})`,
            i,
          );
        }
      }
    });
    if (missing) throw missing;
    if (rewritten) {
      throw new LogVerificationError(
        "ERR_AUDIT_INCONSISTENT",
        `the first ${previous!.size} entries no longer hash to the root witnessed before: history was rewritten`,
      );
    }
    throw new LogVerificationError(
      "ERR_AUDIT_ROOT_MISMATCH",
      `the ${head.size} entries match the stored leaves but not the signed root: the stored tree was rewritten`,
    );
  }
  return {
    origin,
    key,
    size: head.size,
    rootHash: head.rootHash,
    checkpoint,
    previousSize: previous?.size ?? null,
  };
}

interface Lines {
  /** JSON Lines bytes, each line ending in `\n`. */
  bytes: Uint8Array;
  count: number;
}

/**
 * Fetches [0, size) in chunks (entries, and leaf hashes when asked), one chunk ahead of the one
 * being processed, and hands each to `visit`. A log shorter than `size` is named at its first
 * missing index.
 */
async function eachChunk(
  source: LogSource,
  size: number,
  chunk: number,
  withLeaves: boolean,
  visit: (start: number, entries: Lines, leaves: Uint8Array | null) => void,
): Promise<void> {
  const fetchChunk = (start: number) => {
    const end = Math.min(size, start + chunk);
    return Promise.all([source.entries(start, end), withLeaves ? source.leaves(start, end) : null]);
  };
  let next = size > 0 ? fetchChunk(0) : null;
  for (let start = 0; start < size; start += chunk) {
    const [bytes, leaves] = await next!;
    const end = Math.min(size, start + chunk);
    next = end < size ? fetchChunk(end) : null;
    next?.catch(() => undefined); // surfaced when awaited
    let count = 0;
    for (let at = bytes.indexOf(0x0a); at >= 0 && count < end - start; at = bytes.indexOf(0x0a, at + 1))
      count++;
    visit(start, { bytes, count }, leaves);
    if (count < end - start) {
      throw new LogVerificationError(
        "ERR_AUDIT_ENTRY_MISSING",
        `entry ${start + count} is missing: the log ends at index ${start + count}, the signed checkpoint covers ${size} entries (truncated log)`,
        start + count,
      );
    }
  }
}

async function resolveKey(options: VerifyLogOptions): Promise<string> {
  if (options.pinnedKey !== undefined) return options.pinnedKey;
  const meta = await options.source.metadata();
  const key = meta.audit_log_public_key;
  if (typeof key !== "string") {
    throw new LogVerificationError("ERR_AUDIT_NO_KEY", "the server publishes no audit_log_public_key");
  }
  return key;
}

/** Runs a protocol check, turning its error into a {@link LogVerificationError} with the same code. */
async function audit<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isAuditVerificationError(e)) throw new LogVerificationError(e.code, `refusing the log: ${e.message}`);
    throw e;
  }
}

/** The base64 form of a root, as the witness file keeps it. */
export const rootText = encodeHash;
