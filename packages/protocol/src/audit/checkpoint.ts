/**
 * C2SP tlog-checkpoint note text (https://c2sp.org/tlog-checkpoint): the signed statement "the
 * log `origin` has `size` entries and this Merkle root".
 *
 * ```
 * deputy.example/audit        ← origin: non-empty, the log's identity
 * 64                          ← tree size: ASCII decimal, no leading zeros ("0" for empty)
 * 3cnaeacGWamtVZy3Ad7Z…=      ← root hash: standard padded base64 of the 32-byte RFC 6962 root
 * [extension lines]           ← optional, opaque, each non-empty (NOT RECOMMENDED by the spec)
 * ```
 *
 * Every line ends with a newline, the last one included. Parsing is strict: anything the spec
 * does not allow is ERR_AUDIT_MALFORMED_CHECKPOINT. The body is meaningless until its signed note
 * is verified (C2SP signed-note: "The text MUST be ignored unless the note is signed by a trusted
 * key"), so clients call {@link verifyCheckpoint}, not this parser.
 *
 * @example
 * const body = formatCheckpoint({ origin: "deputy.example/audit", size: 64, rootHash });
 * parseCheckpoint(body); // { origin: "deputy.example/audit", size: 64, rootHash, extensions: [] }
 */
import { base64Decode, base64Encode, HASH_SIZE } from "./encoding.js";
import { AuditVerificationError } from "./errors.js";

export interface Checkpoint {
  /** Line 1: the log's identity; for Deputy, also its note key name. */
  readonly origin: string;
  /** Line 2: number of entries in the tree. */
  readonly size: number;
  /** Line 3: RFC 9162 §2.1.1 Merkle tree hash of those entries. */
  readonly rootHash: Uint8Array;
  /** Lines 4…: opaque extension lines. */
  readonly extensions: readonly string[];
}

export interface CheckpointInput {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions?: readonly string[] | undefined;
}

// C2SP signed-note: no ASCII control characters (below U+0020) other than the newline.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u001f]/;
const SIZE = /^(0|[1-9][0-9]*)$/;

function malformed(reason: string): AuditVerificationError {
  return new AuditVerificationError("ERR_AUDIT_MALFORMED_CHECKPOINT", `malformed checkpoint: ${reason}`);
}

function checkLine(line: string, what: string): void {
  if (line.length === 0) throw malformed(`${what} is empty`);
  if (FORBIDDEN.test(line)) throw malformed(`${what} contains a control character`);
}

/**
 * The checkpoint note text for a tree head. Throws ERR_AUDIT_MALFORMED_CHECKPOINT for an empty or
 * multi-line origin or extension, a size that is not a safe non-negative integer, or a root that is
 * not 32 bytes.
 *
 * @example
 * formatCheckpoint({ origin: "deputy.example/audit", size: 2, rootHash });
 * // "deputy.example/audit\n2\n+sVCA+fMaWzw38tCyS…=\n"
 */
export function formatCheckpoint(checkpoint: CheckpointInput): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  checkLine(origin, "origin");
  if (!Number.isSafeInteger(size) || size < 0) throw malformed("size is not a non-negative integer");
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_SIZE)
    throw malformed("root hash is not 32 bytes");
  for (const line of extensions) checkLine(line, "an extension line");
  return [origin, String(size), base64Encode(rootHash), ...extensions].map((line) => `${line}\n`).join("");
}

/**
 * Parses checkpoint note text strictly. Throws ERR_AUDIT_MALFORMED_CHECKPOINT when: the text does
 * not end with a newline; it has fewer than three lines; a line is empty or holds a control
 * character; the size has a sign, leading zeros, or exceeds 2^53 − 1; the root is not canonical
 * padded base64 of exactly 32 bytes.
 *
 * @example
 * const { origin, size, rootHash } = parseCheckpoint(noteText);
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== "string") throw malformed("not text");
  if (!text.endsWith("\n")) throw malformed("the last line does not end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw malformed("fewer than three lines (origin, size, root hash)");
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine(origin, "origin");
  checkLine(sizeLine, "tree size");
  if (!SIZE.test(sizeLine)) throw malformed("tree size is not decimal without leading zeros");
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw malformed("tree size exceeds 2^53 - 1");
  checkLine(rootLine, "root hash");
  const rootHash = base64Decode(rootLine);
  if (rootHash === null) throw malformed("root hash is not padded standard base64");
  if (rootHash.length !== HASH_SIZE) throw malformed("root hash is not 32 bytes");
  for (const line of extensions) checkLine(line, "an extension line");
  return { origin, size, rootHash, extensions };
}
