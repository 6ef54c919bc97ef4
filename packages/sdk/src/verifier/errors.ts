/**
 * Why a verifier refused a request: one error class with a stable `code`, the HTTP status a
 * resource server should answer, and the RFC 6750 §3.1 / RFC 9449 §7.1 `error` for its
 * `WWW-Authenticate` challenge. Messages are safe to show callers; internals go in `cause`.
 *
 * @example
 * try {
 *   await verifier.verify(request);
 * } catch (e) {
 *   if (e instanceof VerificationError && e.code === "ERR_TOKEN_REVOKED") console.warn("revoked");
 * }
 */

/** code → [HTTP status, `error` of the challenge]. A code never changes meaning; new ones are appended. */
export const VERIFICATION_ERRORS = {
  /** No `Authorization` header (RFC 6750 §3.1: no `error` attribute in that case). */
  ERR_TOKEN_MISSING: [401, null],
  /** `Authorization` is not `DPoP <token>` (or `Bearer <token>` where allowed). */
  ERR_AUTH_SCHEME: [401, "invalid_request"],
  ERR_BEARER_NOT_ALLOWED: [401, "invalid_token"],
  ERR_TOKEN_MALFORMED: [401, "invalid_token"],
  ERR_TOKEN_ALG_NOT_ALLOWED: [401, "invalid_token"],
  ERR_TOKEN_TYP: [401, "invalid_token"],
  ERR_TOKEN_UNKNOWN_KEY: [401, "invalid_token"],
  ERR_TOKEN_SIGNATURE: [401, "invalid_token"],
  ERR_TOKEN_ISSUER: [401, "invalid_token"],
  ERR_TOKEN_AUDIENCE: [401, "invalid_token"],
  ERR_TOKEN_EXPIRED: [401, "invalid_token"],
  ERR_TOKEN_NOT_YET_VALID: [401, "invalid_token"],
  ERR_TOKEN_IAT_IN_FUTURE: [401, "invalid_token"],
  ERR_TOKEN_CLAIMS: [401, "invalid_token"],
  ERR_TOKEN_REVOKED: [401, "invalid_token"],
  /** Neither the event stream nor the status list is fresh enough to say the token is not revoked. */
  ERR_REVOCATION_STATE_STALE: [503, null],
  /** The issuer's keys could not be fetched (and none are cached). */
  ERR_JWKS_UNAVAILABLE: [503, null],
  ERR_DPOP_MISSING: [401, "invalid_dpop_proof"],
  ERR_DPOP_MALFORMED: [401, "invalid_dpop_proof"],
  ERR_DPOP_TYP: [401, "invalid_dpop_proof"],
  ERR_DPOP_ALG_NOT_ALLOWED: [401, "invalid_dpop_proof"],
  ERR_DPOP_JWK: [401, "invalid_dpop_proof"],
  ERR_DPOP_SIGNATURE: [401, "invalid_dpop_proof"],
  ERR_DPOP_HTM_MISMATCH: [401, "invalid_dpop_proof"],
  ERR_DPOP_HTU_MISMATCH: [401, "invalid_dpop_proof"],
  ERR_DPOP_IAT: [401, "invalid_dpop_proof"],
  ERR_DPOP_ATH_MISMATCH: [401, "invalid_dpop_proof"],
  ERR_DPOP_KEY_MISMATCH: [401, "invalid_dpop_proof"],
  ERR_DPOP_REPLAYED: [401, "invalid_dpop_proof"],
  /** RFC 9449 §9: the proof lacks the current server nonce; the answer carries `DPoP-Nonce`. */
  ERR_USE_DPOP_NONCE: [401, "use_dpop_nonce"],
  /** The token is DPoP-bound (`cnf.jkt`) but was presented as a Bearer token. */
  ERR_TOKEN_NOT_BEARER: [401, "invalid_token"],
  ERR_INSUFFICIENT_SCOPE: [403, "insufficient_scope"],
  /**
   * `verifyToken` got a DPoP-bound token (`cnf.jkt`) without its proof and without the explicit
   * `dpop: "checked-elsewhere"` opt-out (RFC 9449 §7.1: a bound token is never a bearer token).
   */
  ERR_DPOP_PROOF_REQUIRED: [401, "invalid_token"],
} as const satisfies Record<string, readonly [number, string | null]>;

export type VerificationErrorCode = keyof typeof VERIFICATION_ERRORS;

/** The one error a verifier throws for a refused request. */
export class VerificationError extends Error {
  override readonly name = "VerificationError";
  readonly code: VerificationErrorCode;
  /** 401, 403 or 503. */
  readonly status: number;
  /** The challenge's `error` (`invalid_token`, `invalid_dpop_proof`, …), or null when none applies. */
  readonly error: string | null;
  /** For `ERR_INSUFFICIENT_SCOPE`: the scope the request needs (RFC 6750 §3). */
  readonly scope: string | undefined;
  /** For `ERR_USE_DPOP_NONCE`: the nonce to send back in `DPoP-Nonce`. */
  readonly dpopNonce: string | undefined;

  constructor(
    code: VerificationErrorCode,
    message: string,
    options: { cause?: unknown; scope?: string; dpopNonce?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const [status, error] = VERIFICATION_ERRORS[code];
    this.code = code;
    this.status = status;
    this.error = error;
    this.scope = options.scope;
    this.dpopNonce = options.dpopNonce;
  }
}

/**
 * Shorthand for `new VerificationError(...)`.
 *
 * @example
 * throw refuse("ERR_TOKEN_EXPIRED", "access token has expired");
 */
export function refuse(
  code: VerificationErrorCode,
  message: string,
  options?: { cause?: unknown; scope?: string; dpopNonce?: string },
): VerificationError {
  return new VerificationError(code, message, options);
}
