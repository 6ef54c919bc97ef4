/**
 * The one error class of audit-log verification. Every refusal carries a stable `code`, so the
 * server maps it to a problem body, the CLI to an exit message, and the vectors in
 * `spec/vectors/audit/` name the exact code each attack must produce.
 *
 * @example
 * try {
 *   await verifyInclusion({ entryBytes, index, size, proof, rootHash });
 * } catch (e) {
 *   if (isAuditVerificationError(e) && e.code === "ERR_AUDIT_ROOT_MISMATCH") console.error("entry was edited");
 * }
 */

/** code → short title. A code never changes meaning; new codes are appended. */
export const AUDIT_ERROR_CODES = {
  /** An index, size or tree range is not a safe non-negative integer, or out of order (index ≥ size, from > to, from = 0). */
  ERR_AUDIT_BAD_RANGE: "Invalid tree index or size",
  /** A proof is structurally wrong: wrong number of hashes, a hash that is not 32 bytes. */
  ERR_AUDIT_BAD_PROOF: "Malformed Merkle proof",
  /** The proof is well formed but the entries or proof do not hash to the trusted root. */
  ERR_AUDIT_ROOT_MISMATCH: "Merkle root mismatch",
  /** A consistency proof does not link the older tree to the newer one (history was rewritten). */
  ERR_AUDIT_INCONSISTENT: "Trees are not consistent",
  /** Two validly signed checkpoints of the same size with different roots. */
  ERR_AUDIT_FORK: "Log fork detected",
  /** A checkpoint is smaller than one already witnessed. */
  ERR_AUDIT_ROLLBACK: "Log rollback detected",
  /** The checkpoint body (origin, size, root, extensions) violates C2SP tlog-checkpoint. */
  ERR_AUDIT_MALFORMED_CHECKPOINT: "Malformed checkpoint",
  /** The checkpoint is for another log than the one expected. */
  ERR_AUDIT_WRONG_ORIGIN: "Checkpoint origin mismatch",
  /** The signed note violates C2SP signed-note syntax, or exceeds the size and signature limits. */
  ERR_AUDIT_MALFORMED_NOTE: "Malformed signed note",
  /** A signature by a known key does not verify. */
  ERR_AUDIT_BAD_SIGNATURE: "Invalid note signature",
  /** No signature on the note is by a known key (name and key hash both matching). */
  ERR_AUDIT_UNKNOWN_KEY: "No signature by a known key",
  /** A verifier or signer key string is malformed, of an unknown type, or its key hash does not match. */
  ERR_AUDIT_BAD_KEY: "Invalid note key",
} as const satisfies Record<string, string>;

export type AuditErrorCode = keyof typeof AUDIT_ERROR_CODES;

/** Thrown by every audit verification function. `message` is safe to show; it never holds secrets. */
export class AuditVerificationError extends Error {
  override readonly name = "AuditVerificationError";
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message?: string, options?: { cause?: unknown }) {
    super(
      message ?? AUDIT_ERROR_CODES[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
  }

  get title(): string {
    return AUDIT_ERROR_CODES[this.code];
  }
}

/** Narrows `e` to an {@link AuditVerificationError}, optionally with a given `code`. */
export function isAuditVerificationError(e: unknown, code?: AuditErrorCode): e is AuditVerificationError {
  return e instanceof AuditVerificationError && (code === undefined || e.code === code);
}
