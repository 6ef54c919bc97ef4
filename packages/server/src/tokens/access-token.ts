/**
 * Access-token verification (RFC 9068 §4 with the RFC 8725 best practices), as an ordered list of
 * small named checks, plus a bounded cache of tokens already verified.
 *
 * @example
 * const claims = verifyAccessToken(token, { issuer, audience, now, resolveKey: (kid) => jwks.get(kid) });
 */
import type { KeyObject } from "node:crypto";
import {
  type AccessTokenClaims,
  type ActorClaim,
  ALLOWED_ALGS,
  type AllowedAlg,
  DeputyError,
} from "@deputy/protocol";
import {
  JwsFormatError,
  type JwsHeader,
  type ParsedJws,
  parseCompactJws,
  verifyJwsSignature,
} from "../crypto/jws.js";

/** What {@link verifyAccessToken} checks a token against. */
export interface AccessTokenContext {
  /** The issuer URL; `iss` must equal it exactly. */
  issuer: string;
  /** The resource's audience; when given, `aud` must be it. */
  audience?: string;
  /** Current time, epoch seconds. */
  now: number;
  /** Clock skew tolerated on `exp`, `iat` and `nbf`. Default 5. */
  leewaySec?: number;
  /** The issuer's public key for a `kid`, or undefined if there is none. */
  resolveKey: (kid: string) => KeyObject | undefined;
}

const DEFAULT_LEEWAY_SEC = 5;
const MAX_ACCESS_TOKEN_LENGTH = 8192;
/** DESIGN §4 allows delegation depth ≤ 4, so real chains are far shorter. */
const MAX_ACT_DEPTH = 16;

function fail(reason: string): DeputyError {
  return new DeputyError("ERR_INVALID_TOKEN", reason);
}

function parseToken(token: string): ParsedJws {
  try {
    return parseCompactJws(token, MAX_ACCESS_TOKEN_LENGTH);
  } catch (e) {
    if (e instanceof JwsFormatError) throw fail(`Access token ${e.reason}`);
    throw e;
  }
}

/** RFC 8725 §3.1: an explicit allow-list, checked before any key is touched (no `none`, no HMAC). */
function checkAlgorithmAllowed(header: JwsHeader): AllowedAlg {
  if (!(ALLOWED_ALGS as readonly unknown[]).includes(header.alg))
    throw fail("Access token alg is not allowed");
  return header.alg as AllowedAlg;
}

function resolveKey(header: JwsHeader, ctx: AccessTokenContext): KeyObject {
  if (typeof header.kid !== "string" || header.kid.length === 0) throw fail("Access token has no kid");
  const key = ctx.resolveKey(header.kid);
  if (key === undefined) throw fail("Access token is signed by an unknown key");
  return key;
}

/** Also fails when the key's type does not match `alg` (RFC 8725 §3.1: the key decides, not the token). */
function verifySignature(jws: ParsedJws, alg: AllowedAlg, key: KeyObject): void {
  if (!verifyJwsSignature(alg, key, jws.signingInput, jws.signature))
    throw fail("Access token signature is invalid");
}

/** RFC 9068 §4 / RFC 8725 §3.11: only `at+jwt` (media types compare case-insensitively). */
function checkTypAtJwt(header: JwsHeader): void {
  const typ = typeof header.typ === "string" ? header.typ.toLowerCase() : undefined;
  if (typ !== "at+jwt" && typ !== "application/at+jwt") throw fail('Access token typ must be "at+jwt"');
}

function checkIssuerAudience(claims: Record<string, unknown>, ctx: AccessTokenContext): void {
  if (claims.iss !== ctx.issuer) throw fail("Access token was issued by another issuer");
  if (ctx.audience === undefined) return;
  // RFC 7519 §4.1.3: aud may be an array; it must contain this resource.
  const aud = claims.aud;
  if (aud !== ctx.audience && !(Array.isArray(aud) && aud.includes(ctx.audience))) {
    throw fail("Access token is meant for another audience");
  }
}

function isNumericDate(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function checkLifetime(claims: Record<string, unknown>, ctx: AccessTokenContext): void {
  const leeway = ctx.leewaySec ?? DEFAULT_LEEWAY_SEC;
  const { exp, iat, nbf } = claims;
  if (!isNumericDate(exp)) throw fail("Access token has no numeric exp");
  if (exp <= ctx.now - leeway) throw fail("Access token has expired");
  if (!isNumericDate(iat)) throw fail("Access token has no numeric iat");
  if (iat > ctx.now + leeway) throw fail("Access token iat is in the future");
  if (nbf !== undefined && !isNumericDate(nbf)) throw fail("Access token nbf must be a number");
  if (nbf !== undefined && nbf > ctx.now + leeway) throw fail("Access token is not yet valid");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isActorClaim(v: unknown, depth = 0): v is ActorClaim {
  if (!isObject(v) || typeof v.sub !== "string" || depth >= MAX_ACT_DEPTH) return false;
  return v.act === undefined || isActorClaim(v.act, depth + 1);
}

function isStatusClaim(v: unknown): v is AccessTokenClaims["status"] {
  if (!isObject(v) || !isObject(v.status_list)) return false;
  const { idx, uri } = v.status_list;
  return Number.isSafeInteger(idx) && (idx as number) >= 0 && typeof uri === "string";
}

/** RFC 9068 §2.2 plus Deputy's profile (DESIGN §4). */
function checkRequiredClaims(claims: Record<string, unknown>): AccessTokenClaims {
  for (const name of ["sub", "client_id", "jti", "grant_id"] as const) {
    if (typeof claims[name] !== "string" || claims[name] === "") throw fail(`Access token has no ${name}`);
  }
  // Deputy mints one audience per token (DESIGN §4), so `aud` comes back as a plain string.
  if (typeof claims.aud !== "string") throw fail("Access token aud must be a single string");
  if (typeof claims.scope !== "string") throw fail("Access token has no scope");
  if (!isActorClaim(claims.act)) throw fail("Access token act must be an object with a string sub");
  // DESIGN §4: the outermost actor is the acting agent, which is also the client.
  if ((claims.act as { sub: string }).sub !== claims.client_id)
    throw fail("Access token act.sub must equal client_id");
  if (claims.cnf !== undefined && !(isObject(claims.cnf) && typeof claims.cnf.jkt === "string")) {
    throw fail("Access token cnf must carry a string jkt");
  }
  if (!isStatusClaim(claims.status)) throw fail("Access token has no valid status claim");
  return claims as unknown as AccessTokenClaims;
}

/**
 * Verifies a Deputy access token and returns its claims. The order of checks is the contract;
 * each line is one named step that throws `ERR_INVALID_TOKEN` with a specific reason.
 * Revocation and DPoP binding are the caller's next steps.
 *
 * @example
 * const claims = verifyAccessToken(token, {
 *   issuer: "https://deputy.example", audience: "https://api.example",
 *   now: Math.floor(Date.now() / 1000), resolveKey: (kid) => issuerKeys.get(kid),
 * });
 */
export function verifyAccessToken(token: string, ctx: AccessTokenContext): AccessTokenClaims {
  // A straight list rather than a generic `pipeline()`: each step's inputs and outputs stay typed.
  const jws = parseToken(token);
  const alg = checkAlgorithmAllowed(jws.header);
  const key = resolveKey(jws.header, ctx);
  verifySignature(jws, alg, key);
  checkTypAtJwt(jws.header);
  checkIssuerAudience(jws.payload, ctx);
  checkLifetime(jws.payload, ctx);
  return checkRequiredClaims(jws.payload);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * A bounded map from the exact token string to claims already verified, so a token seen before
 * skips the signature check. Keyed by the whole string, so any change (including to the
 * signature) misses. On every hit `exp`, `iss` and `aud` are checked again; entries are evicted
 * oldest first. Cached claims are frozen. Call `clear()` when an issuer key is withdrawn.
 *
 * @example
 * const cache = new VerifiedTokenCache();
 * const claims = cache.verify(token, { issuer, audience, now, resolveKey });
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, AccessTokenClaims>();
  readonly #maxEntries: number;

  constructor(maxEntries = 10_000) {
    this.#maxEntries = Math.max(1, maxEntries);
  }

  /** Number of cached tokens. */
  get size(): number {
    return this.#entries.size;
  }

  /** Claims of a cached, still unexpired token (RFC 9068 §4: exp is checked on every use). */
  get(token: string, now: number, leewaySec: number = DEFAULT_LEEWAY_SEC): AccessTokenClaims | undefined {
    const claims = this.#entries.get(token);
    if (claims === undefined) return undefined;
    if (claims.exp <= now - leewaySec) {
      this.#entries.delete(token);
      return undefined;
    }
    return claims;
  }

  /** Remembers verified claims for a token; only ever pass the output of {@link verifyAccessToken}. */
  set(token: string, claims: AccessTokenClaims): void {
    if (this.#entries.size >= this.#maxEntries && !this.#entries.has(token)) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, deepFreeze(claims));
  }

  /** {@link verifyAccessToken} with the cache in front: a hit re-checks `exp`, `iss` and `aud`. */
  verify(token: string, ctx: AccessTokenContext): AccessTokenClaims {
    const hit = this.get(token, ctx.now, ctx.leewaySec);
    if (hit !== undefined) {
      checkIssuerAudience(hit as unknown as Record<string, unknown>, ctx);
      return hit;
    }
    const claims = verifyAccessToken(token, ctx);
    this.set(token, claims);
    return claims;
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }

  clear(): void {
    this.#entries.clear();
  }
}
