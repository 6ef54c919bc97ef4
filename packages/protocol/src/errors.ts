/**
 * Stable error codes shared by the server, the SDK and the CLI. A code never changes meaning;
 * new codes are appended. The HTTP edge maps each to an RFC 9457 problem (management API) or an
 * RFC 6749 §5.2 error (OAuth endpoints).
 *
 * @example
 * throw new DeputyError("ERR_DELEGATION_WIDENS_SCOPE", "scope 'deploy' is not held by the parent");
 */

/** code → [HTTP status, OAuth error (RFC 6749 §5.2 / RFC 9449 / RFC 8693), short title] */
export const ERROR_CODES = {
  // Input
  ERR_INVALID_REQUEST: [400, "invalid_request", "Invalid request"],
  ERR_MALFORMED_JSON: [400, "invalid_request", "Malformed JSON body"],
  ERR_BODY_TOO_LARGE: [413, "invalid_request", "Request body too large"],
  ERR_UNSUPPORTED_MEDIA_TYPE: [415, "invalid_request", "Unsupported media type"],
  ERR_INVALID_CURSOR: [400, "invalid_request", "Invalid pagination cursor"],
  ERR_NOT_FOUND: [404, "invalid_request", "Not found"],
  ERR_ROUTE_NOT_FOUND: [404, "invalid_request", "No such route"],
  ERR_METHOD_NOT_ALLOWED: [405, "invalid_request", "Method not allowed"],
  ERR_CONFLICT: [409, "invalid_request", "Conflict"],
  // Caller authentication (management API)
  ERR_UNAUTHENTICATED: [401, "invalid_client", "Authentication required"],
  ERR_FORBIDDEN: [403, "access_denied", "Forbidden"],
  // Identity
  ERR_PRIVATE_KEY_MEMBERS: [400, "invalid_request", "JWK contains private key members"],
  ERR_UNSUPPORTED_KEY: [400, "invalid_request", "Unsupported key type"],
  ERR_PRINCIPAL_DISABLED: [409, "invalid_grant", "Principal is disabled"],
  ERR_AGENT_REVOKED: [409, "invalid_grant", "Agent is revoked"],
  ERR_LAST_KEY: [409, "invalid_request", "Cannot remove an agent's last key"],
  ERR_UNKNOWN_RESOURCE: [400, "invalid_target", "Resource is not registered"],
  // Grants and delegation
  ERR_DELEGATION_WIDENS_SCOPE: [400, "invalid_scope", "Delegation widens scope"],
  ERR_DELEGATION_WIDENS_RESOURCE: [400, "invalid_target", "Delegation widens resources"],
  ERR_DELEGATION_OUTLIVES_PARENT: [400, "invalid_grant", "Delegation outlives its parent"],
  ERR_DELEGATION_DEPTH_EXCEEDED: [400, "invalid_grant", "Delegation depth exceeded"],
  ERR_GRANT_EXPIRED: [400, "invalid_grant", "Grant has expired"],
  ERR_GRANT_REVOKED: [400, "invalid_grant", "Grant is revoked"],
  ERR_GRANT_NOT_YET_VALID: [400, "invalid_grant", "Grant is not yet valid"],
  ERR_GRANT_BUDGET_EXHAUSTED: [400, "invalid_grant", "Grant's token budget is used up"],
  ERR_NO_GRANT: [400, "invalid_scope", "No active grant covers the request"],
  // OAuth
  ERR_UNSUPPORTED_GRANT_TYPE: [400, "unsupported_grant_type", "Unsupported grant type"],
  ERR_INVALID_CLIENT: [401, "invalid_client", "Client authentication failed"],
  ERR_INVALID_GRANT: [400, "invalid_grant", "Invalid grant"],
  ERR_INVALID_SCOPE: [400, "invalid_scope", "Invalid scope"],
  ERR_INVALID_TARGET: [400, "invalid_target", "Invalid resource"],
  ERR_INVALID_DPOP_PROOF: [400, "invalid_dpop_proof", "Invalid DPoP proof"],
  ERR_USE_DPOP_NONCE: [400, "use_dpop_nonce", "DPoP nonce required"],
  ERR_DPOP_REQUIRED: [400, "invalid_dpop_proof", "DPoP proof required"],
  ERR_INVALID_TOKEN: [401, "invalid_token", "Invalid access token"],
  ERR_INSUFFICIENT_SCOPE: [403, "insufficient_scope", "Insufficient scope"],
  // Provisioning (enrollments, temporary agents, claims, provenance)
  ERR_ENROLLMENT_CODE_INVALID: [401, "invalid_client", "Unknown enrollment code"],
  ERR_ENROLLMENT_EXPIRED: [410, "invalid_grant", "Enrollment has expired"],
  ERR_ENROLLMENT_REVOKED: [410, "invalid_grant", "Enrollment is revoked"],
  ERR_ENROLLMENT_EXHAUSTED: [409, "invalid_grant", "Enrollment has no registrations left"],
  ERR_AGENT_CEILING: [400, "invalid_scope", "Exceeds the agent's ceiling"],
  ERR_PROVENANCE_REQUIRED: [400, "invalid_request", "Verified provenance required"],
  ERR_STATEMENT_UNKNOWN_ISSUER: [400, "invalid_request", "Software statement from an unknown issuer"],
  ERR_STATEMENT_EXPIRED: [400, "invalid_request", "Software statement has expired"],
  ERR_STATEMENT_INVALID: [400, "invalid_request", "Invalid software statement"],
  ERR_PROVENANCE_NOT_ACCEPTED: [400, "invalid_target", "Resource does not accept this agent's provenance"],
  ERR_CHALLENGE_INVALID: [400, "invalid_request", "Invalid proof-of-work challenge"],
  ERR_CHALLENGE_EXPIRED: [400, "invalid_request", "Proof-of-work challenge has expired"],
  ERR_CHALLENGE_REUSED: [400, "invalid_request", "Proof-of-work challenge was already used"],
  ERR_POW_INSUFFICIENT: [400, "invalid_request", "Proof of work has too few leading zero bits"],
  ERR_RATE_LIMITED: [429, "temporarily_unavailable", "Too many requests"],
  ERR_CLAIM_USED: [409, "invalid_grant", "Agent was already claimed"],
  ERR_CLAIM_EXPIRED: [410, "invalid_grant", "Claim window has expired"],
  // Broker (issue #5): connections, the /proxy gateway, approvals
  ERR_CONNECTION_NOT_FOUND: [404, "invalid_target", "No such connection"],
  ERR_INVALID_UPSTREAM: [400, "invalid_request", "Invalid upstream URL"],
  ERR_PROXY_PATH_INVALID: [400, "invalid_request", "Proxy path is not acceptable"],
  ERR_PROXY_HEADER_INVALID: [400, "invalid_request", "Request header is not acceptable"],
  ERR_PROXY_HEADERS_TOO_LARGE: [431, "invalid_request", "Request headers too large"],
  ERR_CALL_NOT_ALLOWED: [403, "insufficient_scope", "No rule of the token's scopes allows this call"],
  ERR_CALL_BUDGET_EXHAUSTED: [403, "access_denied", "Grant's call budget is used up"],
  ERR_APPROVAL_REQUIRED: [403, "access_denied", "Approval required"],
  ERR_APPROVAL_NOT_FOUND: [404, "invalid_request", "No such approval"],
  ERR_APPROVAL_NOT_PENDING: [409, "invalid_request", "Approval is no longer pending"],
  ERR_APPROVAL_EXPIRED: [403, "access_denied", "Approval has expired"],
  ERR_APPROVAL_MISMATCH: [403, "access_denied", "Approval is bound to another request"],
  ERR_APPROVAL_NOT_GRANTED: [403, "access_denied", "Approval was not granted"],
  ERR_APPROVAL_USED: [403, "access_denied", "Approval was already used"],
  ERR_SELF_APPROVAL: [403, "access_denied", "An agent cannot approve its own or its sub-agents' requests"],
  ERR_UPSTREAM_TIMEOUT: [504, "temporarily_unavailable", "Upstream timed out"],
  ERR_UPSTREAM_UNREACHABLE: [502, "temporarily_unavailable", "Upstream unreachable"],
  ERR_UPSTREAM_BAD_RESPONSE: [502, "temporarily_unavailable", "Upstream sent an invalid response"],
  // Server
  ERR_INTERNAL: [500, "server_error", "Internal error"],
  ERR_UNAVAILABLE: [503, "temporarily_unavailable", "Temporarily unavailable"],
  // Revocation reaching verifiers (DESIGN §4)
  ERR_INVALID_LAST_EVENT_ID: [400, "invalid_request", "Invalid Last-Event-ID"],
  ERR_INVALID_STATUS_LIST: [400, "invalid_request", "Invalid status list number"],
  ERR_STATUS_LIST_NOT_FOUND: [404, "invalid_request", "No such status list"],
} as const satisfies Record<string, readonly [number, string, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The one error class of Deputy. `message` is safe to show callers; internals go in `cause`. */
export class DeputyError extends Error {
  override readonly name = "DeputyError";
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra members for the problem body (never secrets). */
  readonly extra: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options?: { cause?: unknown; extra?: Record<string, unknown> },
  ) {
    const def = ERROR_CODES[code];
    super(message ?? def[2], options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = def[0];
    this.extra = options?.extra;
  }

  /** The RFC 6749 §5.2 `error` value for OAuth endpoints. */
  get oauthError(): string {
    return ERROR_CODES[this.code][1];
  }

  get title(): string {
    return ERROR_CODES[this.code][2];
  }
}

export function isDeputyError(e: unknown): e is DeputyError {
  return e instanceof DeputyError;
}
