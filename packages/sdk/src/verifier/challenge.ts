/**
 * The `WWW-Authenticate` challenge and body for a refused request: RFC 6750 §3 (`error`,
 * `error_description`, `scope`), RFC 9449 §7.1 (the `DPoP` scheme with `algs`) and RFC 9728
 * §5.1 (`resource_metadata`). Every middleware answers with this, so all frameworks agree.
 *
 * @example
 * const { status, headers, body } = challengeFor(error, { allowBearer: false });
 * res.writeHead(status, headers).end(JSON.stringify(body));
 */
import { VerificationError } from "./errors.js";
import { ALLOWED_ALGS } from "./jws.js";

export interface ChallengeOptions {
  /** Also offer the Bearer scheme (only where the verifier accepts Bearer tokens). */
  allowBearer?: boolean;
  /** RFC 9728 §5.1: the URL of this resource's protected resource metadata. */
  resourceMetadata?: string;
  /** Scope to name in the challenge (RFC 6750 §3) when the error does not carry one. */
  scope?: string;
  realm?: string;
}

/** The HTTP answer for a refusal. */
export interface Challenge {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string; code: string };
}

/** RFC 7230 quoted-string: no DQUOTE or backslash unescaped, no control characters. */
function quote(v: string): string {
  let out = "";
  for (const c of v) {
    const code = c.charCodeAt(0);
    if (c === '"' || c === "\\") out += `\\${c}`;
    else out += code < 0x20 || code === 0x7f ? " " : c;
  }
  return `"${out}"`;
}

/**
 * Builds the answer for any error thrown while verifying (an unexpected error becomes a 500 that
 * says nothing about internals).
 *
 * @example
 * const c = challengeFor(new VerificationError("ERR_INSUFFICIENT_SCOPE", "needs tickets:write", { scope: "tickets:write" }));
 * // c.status === 403; c.headers["www-authenticate"] === 'DPoP error="insufficient_scope", scope="tickets:write", …'
 */
export function challengeFor(error: unknown, options: ChallengeOptions = {}): Challenge {
  if (!(error instanceof VerificationError)) {
    return {
      status: 500,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
      body: {
        error: "server_error",
        error_description: "internal error while verifying the request",
        code: "ERR_INTERNAL",
      },
    };
  }
  const params: string[] = [];
  if (options.realm !== undefined) params.push(`realm=${quote(options.realm)}`);
  if (error.error !== null) {
    params.push(`error=${quote(error.error)}`);
    params.push(`error_description=${quote(error.message)}`);
  }
  const scope = error.scope ?? options.scope;
  if (scope !== undefined) params.push(`scope=${quote(scope)}`);
  if (options.resourceMetadata !== undefined)
    params.push(`resource_metadata=${quote(options.resourceMetadata)}`);
  const dpop = [...params, `algs=${quote(ALLOWED_ALGS.join(" "))}`];
  // RFC 9110 §11.6.1: several challenges may share one header field, comma-separated.
  const challenges = [`DPoP ${dpop.join(", ")}`];
  if (options.allowBearer) challenges.push(params.length > 0 ? `Bearer ${params.join(", ")}` : "Bearer");
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "cache-control": "no-store",
  };
  if (error.status === 401 || error.status === 403) headers["www-authenticate"] = challenges.join(", ");
  if (error.status === 503) headers["retry-after"] = "1";
  if (error.dpopNonce !== undefined) headers["dpop-nonce"] = error.dpopNonce;
  return {
    status: error.status,
    headers,
    body: {
      error: error.error ?? (error.status === 503 ? "temporarily_unavailable" : "invalid_token"),
      error_description: error.message,
      code: error.code,
    },
  };
}
