/**
 * JWTs signed by an agent's own registered key: RFC 7523 client assertions (`private_key_jwt`)
 * and RFC 8693 actor tokens. Parse first (to find the agent by `iss`), then verify against that
 * agent's keys.
 *
 * @example
 * const parsed = parseAgentJwt(form.client_assertion);
 * const keys = await loadAgentKeys(parsed.agentId);
 * const { agentId, jti, exp } = verifyAgentJwt(parsed, { keys, audiences, now, maxLifetimeSec: 300, errorCode: "ERR_INVALID_CLIENT" });
 */
import type { KeyObject } from "node:crypto";
import { ALLOWED_ALGS, type AllowedAlg, DeputyError, isId } from "@deputy/protocol";
import {
  JwsFormatError,
  type JwsHeader,
  parseCompactJws,
  prefetchJwsSignature,
  verifyJwsSignature,
} from "../crypto/jws.js";
import { isStorableText } from "../crypto/text.js";

/** `ERR_INVALID_CLIENT` for client assertions, `ERR_INVALID_GRANT` for actor tokens. */
export type AgentJwtErrorCode = "ERR_INVALID_CLIENT" | "ERR_INVALID_GRANT";

/** An agent JWT whose signature has not been checked yet. */
export interface ParsedAgentJwt {
  header: JwsHeader;
  claims: Record<string, unknown>;
  /** `iss` (= `sub`), a well-formed `agt_` id. */
  agentId: string;
  kid?: string;
  signingInput: Buffer;
  signature: Buffer;
}

/** A registered agent key. */
export interface AgentVerificationKey {
  kid: string;
  keyObject: KeyObject;
  alg: AllowedAlg;
}

/** What {@link verifyAgentJwt} checks a parsed agent JWT against. */
export interface AgentJwtCheckOptions {
  /** The agent's active keys. */
  keys: readonly AgentVerificationKey[];
  /** Accepted `aud` values (the issuer and, for assertions, the token endpoint). */
  audiences: readonly string[];
  /** Current time, epoch seconds. */
  now: number;
  /** Longest accepted remaining lifetime, `exp − now`, in seconds (DESIGN §4: 300). */
  maxLifetimeSec: number;
  /** Clock skew tolerated on `exp`, `iat` and `nbf`. Default 30. */
  skewSec?: number;
  errorCode: AgentJwtErrorCode;
}

/** The result of {@link verifyAgentJwt}. */
export interface VerifiedAgentJwt {
  agentId: string;
  /** The caller must consume it once until `exp` (RFC 7523 §3 item 7). */
  jti: string;
  exp: number;
  /** The registered key that verified the signature. */
  kid: string;
}

const DEFAULT_SKEW_SEC = 30;
const MAX_JTI_LENGTH = 256;
const MAX_AGENT_JWT_LENGTH = 8192;

/** RFC 8725 §3.11: JWT kinds that must never be accepted as an agent's own assertion. */
const FOREIGN_TYPS = new Set(["at+jwt", "dpop+jwt", "statuslist+jwt"]);

function fail(code: AgentJwtErrorCode, reason: string): DeputyError {
  return new DeputyError(
    code,
    `${code === "ERR_INVALID_CLIENT" ? "Client assertion" : "Actor token"} ${reason}`,
  );
}

/**
 * Decodes an agent JWT without verifying it and checks that `iss` = `sub` = a well-formed
 * agent id (RFC 7523 §3 items 1–2), so the caller can look up that agent's keys.
 *
 * @example
 * const { agentId, kid } = parseAgentJwt(form.actor_token, "ERR_INVALID_GRANT");
 */
export function parseAgentJwt(
  jwt: string,
  errorCode: AgentJwtErrorCode = "ERR_INVALID_CLIENT",
): ParsedAgentJwt {
  let jws: ReturnType<typeof parseCompactJws>;
  try {
    jws = parseCompactJws(jwt, MAX_AGENT_JWT_LENGTH);
  } catch (e) {
    if (e instanceof JwsFormatError) throw fail(errorCode, e.reason);
    throw e;
  }
  const { iss, sub } = jws.payload;
  if (!isId("agt", iss)) throw fail(errorCode, "iss must be an agent id");
  if (sub !== iss) throw fail(errorCode, "sub must equal iss");
  const kid = jws.header.kid;
  if (kid !== undefined && typeof kid !== "string") throw fail(errorCode, "kid must be a string");
  const parsed: ParsedAgentJwt = {
    header: jws.header,
    claims: jws.payload,
    agentId: iss,
    signingInput: jws.signingInput,
    signature: jws.signature,
  };
  if (kid !== undefined) parsed.kid = kid;
  return parsed;
}

function checkHeader(parsed: ParsedAgentJwt, code: AgentJwtErrorCode): AllowedAlg {
  const { alg, typ } = parsed.header;
  if (!(ALLOWED_ALGS as readonly unknown[]).includes(alg)) throw fail(code, "alg is not allowed");
  if (typ !== undefined) {
    if (typeof typ !== "string") throw fail(code, "typ must be a string");
    // RFC 7515 §4.1.9: media types compare case-insensitively and may omit "application/".
    const normalized = typ.toLowerCase().replace(/^application\//, "");
    if (FOREIGN_TYPS.has(normalized)) throw fail(code, `must not be a ${normalized} token`);
  }
  return alg as AllowedAlg;
}

function verifySignature(parsed: ParsedAgentJwt, alg: AllowedAlg, opts: AgentJwtCheckOptions): string {
  const code = opts.errorCode;
  const candidates =
    parsed.kid !== undefined
      ? opts.keys.filter((k) => k.kid === parsed.kid)
      : opts.keys.filter((k) => k.alg === alg);
  if (candidates.length === 0) throw fail(code, "is signed by an unregistered key");
  for (const key of candidates) {
    if (key.alg !== alg) throw fail(code, "alg does not match the registered key");
    if (verifyJwsSignature(alg, key.keyObject, parsed.signingInput, parsed.signature)) return key.kid;
  }
  throw fail(code, "signature is invalid");
}

function checkAudience(aud: unknown, audiences: readonly string[], code: AgentJwtErrorCode): void {
  // RFC 7523 §3 item 3: aud is a string or an array of strings and must identify this server.
  const values = typeof aud === "string" ? [aud] : aud;
  if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === "string")) {
    throw fail(code, "has no aud");
  }
  if (!values.some((v) => audiences.includes(v))) throw fail(code, "aud is not this server");
}

function checkTimes(claims: Record<string, unknown>, opts: AgentJwtCheckOptions): number {
  const { exp, iat, nbf } = claims;
  const { now, errorCode: code } = opts;
  const skew = opts.skewSec ?? DEFAULT_SKEW_SEC;
  // RFC 7523 §3 item 4: exp is mandatory.
  if (typeof exp !== "number" || !Number.isFinite(exp)) throw fail(code, "has no numeric exp");
  if (exp <= now - skew) throw fail(code, "has expired");
  // A short lifetime bounds how long the jti must be remembered (DESIGN §4: exp ≤ 5 min).
  if (exp - now > opts.maxLifetimeSec + skew)
    throw fail(code, `lives longer than ${opts.maxLifetimeSec} seconds`);
  if (iat !== undefined && (typeof iat !== "number" || !Number.isFinite(iat)))
    throw fail(code, "iat must be a number");
  if (iat !== undefined && iat > now + skew) throw fail(code, "iat is in the future");
  if (nbf !== undefined && (typeof nbf !== "number" || !Number.isFinite(nbf)))
    throw fail(code, "nbf must be a number");
  if (nbf !== undefined && nbf > now + skew) throw fail(code, "is not yet valid (nbf)");
  return exp;
}

function checkJti(jti: unknown, code: AgentJwtErrorCode): string {
  if (typeof jti !== "string" || jti.length === 0) throw fail(code, "has no jti");
  if (jti.length > MAX_JTI_LENGTH) throw fail(code, `jti is longer than ${MAX_JTI_LENGTH} characters`);
  if (!isStorableText(jti)) throw fail(code, "jti contains U+0000 or an unpaired surrogate");
  return jti;
}

/**
 * Verifies a parsed agent JWT against the agent's registered keys (RFC 7523 §3): allowed `alg`,
 * no cross-JWT `typ` (RFC 8725 §3.11), signature by the `kid` key (or any key of that `alg`),
 * `aud`, `exp` within `maxLifetimeSec`, `iat`, `nbf` and `jti`. Throws `opts.errorCode`.
 *
 * Replay is NOT checked here: the caller must consume the returned `jti` (scoped to the agent)
 * exactly once, remembering it until `exp` + skew.
 *
 * @example
 * const v = verifyAgentJwt(parsed, {
 *   keys: agentKeys, audiences: [issuer, tokenEndpoint], now, maxLifetimeSec: 300, errorCode: "ERR_INVALID_CLIENT",
 * });
 * if (!(await store.nonces.consumeOnce(`ca:${v.agentId}:${v.jti}`, (v.exp + 30) * 1000, now))) throw …;
 */
export function verifyAgentJwt(parsed: ParsedAgentJwt, opts: AgentJwtCheckOptions): VerifiedAgentJwt {
  const code = opts.errorCode;
  const alg = checkHeader(parsed, code);
  const kid = verifySignature(parsed, alg, opts);
  // Parsed without a key, so re-checked here in case `parsed` was built by hand (RFC 7523 §3 items 1–2).
  if (
    !isId("agt", parsed.claims.iss) ||
    parsed.claims.sub !== parsed.claims.iss ||
    parsed.agentId !== parsed.claims.iss
  ) {
    throw fail(code, "iss and sub must both be the agent id");
  }
  checkAudience(parsed.claims.aud, opts.audiences, code);
  const exp = checkTimes(parsed.claims, opts);
  const jti = checkJti(parsed.claims.jti, code);
  return { agentId: parsed.agentId, jti, exp, kid };
}

/**
 * Starts the signature checks {@link verifyAgentJwt} will make, on the thread pool (see
 * {@link prefetchJwsSignature}); the later synchronous verification then costs a lookup. Safe to
 * skip or to call with anything: it decides nothing.
 *
 * @example
 * await prefetchAgentJwt(parsed, keys);
 * const verified = verifyAgentJwt(parsed, { keys, … });
 */
export function prefetchAgentJwt(
  parsed: ParsedAgentJwt,
  keys: readonly AgentVerificationKey[],
): Promise<unknown> {
  const alg = parsed.header.alg;
  if (!(ALLOWED_ALGS as readonly unknown[]).includes(alg)) return Promise.resolve();
  const candidates = keys.filter(
    (k) => (parsed.kid !== undefined ? k.kid === parsed.kid : k.alg === alg) && k.alg === alg,
  );
  return Promise.all(
    candidates.map((k) =>
      prefetchJwsSignature(alg as AllowedAlg, k.keyObject, parsed.signingInput, parsed.signature),
    ),
  );
}
