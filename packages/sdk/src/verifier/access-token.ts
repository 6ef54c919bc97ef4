/**
 * Access-token checks (RFC 9068 §4 with RFC 8725), as an ordered list of small named steps. The
 * signature step is async with Web Crypto (or when the key must be fetched), synchronous with a
 * cached key on node:crypto; everything else is synchronous so that a cached token re-runs the
 * time and audience checks without touching a key.
 *
 * @example
 * const { claims } = await verifyAccessToken(token, { issuer, audience, nowSec, leewaySec: 5, keys });
 */
import { refuse } from "./errors.js";
import type { IssuerKeys } from "./issuer-keys.js";
import { ALLOWED_ALGS, type ParsedJws, parseCompactJws, verifyJwsSignature } from "./jws.js";

/** RFC 8693 §4.1 actor claim: the acting agent, with its parent nested in `act`. */
export interface ActorClaim {
  sub: string;
  act?: ActorClaim;
}

/** Deputy's access-token claims (DESIGN §4). */
export interface AccessTokenClaims {
  iss: string;
  /** The principal on whose behalf the agent acts. */
  sub: string;
  aud: string;
  /** The acting agent. */
  client_id: string;
  act: ActorClaim;
  scope: string;
  iat: number;
  exp: number;
  nbf?: number;
  jti: string;
  grant_id: string;
  cnf?: { jkt: string };
  status?: { status_list: { idx: number; uri: string } };
  [claim: string]: unknown;
}

export interface AccessTokenContext {
  issuer: string;
  audience: string;
  /** Epoch seconds. */
  nowSec: number;
  leewaySec: number;
  keys: IssuerKeys;
}

const MAX_ACCESS_TOKEN_LENGTH = 8192;
/** DESIGN §4 allows delegation depth ≤ 4; anything much deeper is an attack on our recursion. */
const MAX_ACT_DEPTH = 16;

function parseToken(token: string): ParsedJws {
  const jws = parseCompactJws(token, MAX_ACCESS_TOKEN_LENGTH);
  if (typeof jws === "string") throw refuse("ERR_TOKEN_MALFORMED", `access token ${jws}`);
  return jws;
}

/** RFC 8725 §3.1: an explicit allow-list, checked before any key is touched (no `none`, no HMAC). */
function checkAlgorithmAllowed(jws: ParsedJws): void {
  if (!ALLOWED_ALGS.includes(jws.header.alg as string)) {
    throw refuse(
      "ERR_TOKEN_ALG_NOT_ALLOWED",
      `access token alg ${JSON.stringify(jws.header.alg)} is not allowed`,
    );
  }
}

/** RFC 9068 §4 / RFC 8725 §3.11: only `at+jwt` (media types compare case-insensitively). */
function checkTypAtJwt(jws: ParsedJws): void {
  const typ = typeof jws.header.typ === "string" ? jws.header.typ.toLowerCase() : undefined;
  if (typ !== "at+jwt" && typ !== "application/at+jwt") {
    throw refuse("ERR_TOKEN_TYP", 'access token typ must be "at+jwt"');
  }
}

function checkKid(jws: ParsedJws): string {
  const kid = jws.header.kid;
  if (typeof kid !== "string" || kid.length === 0)
    throw refuse("ERR_TOKEN_UNKNOWN_KEY", "access token has no kid");
  return kid;
}

function checkSignatureValid(valid: boolean): void {
  if (!valid) throw refuse("ERR_TOKEN_SIGNATURE", "access token signature is invalid");
}

/** The signature by the issuer's key `kid`: synchronous (undefined) when the key is cached and the backend is synchronous. */
function verifySignature(jws: ParsedJws, kid: string, ctx: AccessTokenContext): Promise<void> | undefined {
  const key = ctx.keys.peek(kid);
  if (key === undefined) return verifySignatureResolvingKey(jws, kid, ctx);
  const valid = verifyJwsSignature(jws, key);
  if (typeof valid !== "boolean") return valid.then(checkSignatureValid);
  checkSignatureValid(valid);
  return undefined;
}

async function verifySignatureResolvingKey(
  jws: ParsedJws,
  kid: string,
  ctx: AccessTokenContext,
): Promise<void> {
  const key = await ctx.keys.resolve(kid);
  if (key === undefined) {
    throw refuse("ERR_TOKEN_UNKNOWN_KEY", "access token is signed by a key the issuer does not publish");
  }
  checkSignatureValid(await verifyJwsSignature(jws, key));
}

/**
 * RFC 9068 §4: `iss` is exactly the issuer, `aud` names this resource.
 *
 * @example
 * checkIssuerAudience(claims, ctx);
 */
export function checkIssuerAudience(
  claims: Record<string, unknown>,
  ctx: Pick<AccessTokenContext, "issuer" | "audience">,
): void {
  if (claims.iss !== ctx.issuer)
    throw refuse("ERR_TOKEN_ISSUER", "access token was issued by another issuer");
  const aud = claims.aud;
  // RFC 7519 §4.1.3: aud may be an array; it must contain this resource.
  if (aud !== ctx.audience && !(Array.isArray(aud) && aud.includes(ctx.audience))) {
    throw refuse("ERR_TOKEN_AUDIENCE", "access token is meant for another audience");
  }
}

const isNumericDate = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * RFC 7519 §4.1.4–§4.1.6 with `leewaySec` of clock skew either way.
 *
 * @example
 * checkLifetime(claims, { nowSec, leewaySec: 5 });
 */
export function checkLifetime(
  claims: Record<string, unknown>,
  ctx: Pick<AccessTokenContext, "nowSec" | "leewaySec">,
): void {
  const { exp, iat, nbf } = claims;
  if (!isNumericDate(exp)) throw refuse("ERR_TOKEN_CLAIMS", "access token has no numeric exp");
  if (exp <= ctx.nowSec - ctx.leewaySec) throw refuse("ERR_TOKEN_EXPIRED", "access token has expired");
  if (!isNumericDate(iat)) throw refuse("ERR_TOKEN_CLAIMS", "access token has no numeric iat");
  if (iat > ctx.nowSec + ctx.leewaySec)
    throw refuse("ERR_TOKEN_IAT_IN_FUTURE", "access token iat is in the future");
  if (nbf !== undefined && !isNumericDate(nbf))
    throw refuse("ERR_TOKEN_CLAIMS", "access token nbf must be a number");
  if (nbf !== undefined && nbf > ctx.nowSec + ctx.leewaySec) {
    throw refuse("ERR_TOKEN_NOT_YET_VALID", "access token is not valid yet (nbf)");
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function isActorClaim(v: unknown, depth = 0): v is ActorClaim {
  if (!isObject(v) || typeof v.sub !== "string" || v.sub === "" || depth >= MAX_ACT_DEPTH) return false;
  return v.act === undefined || isActorClaim(v.act, depth + 1);
}

/** RFC 9068 §2.2 plus Deputy's profile (DESIGN §4). */
function checkRequiredClaims(claims: Record<string, unknown>): AccessTokenClaims {
  for (const name of ["sub", "client_id", "jti", "grant_id"] as const) {
    if (typeof claims[name] !== "string" || claims[name] === "") {
      throw refuse("ERR_TOKEN_CLAIMS", `access token has no ${name}`);
    }
  }
  if (typeof claims.scope !== "string") throw refuse("ERR_TOKEN_CLAIMS", "access token has no scope");
  if (!isActorClaim(claims.act))
    throw refuse("ERR_TOKEN_CLAIMS", "access token act must be an object with a string sub");
  // DESIGN §4: the outermost actor is the acting agent, which is also the client.
  if (claims.act.sub !== claims.client_id)
    throw refuse("ERR_TOKEN_CLAIMS", "access token act.sub must equal client_id");
  if (claims.cnf !== undefined && !(isObject(claims.cnf) && typeof claims.cnf.jkt === "string")) {
    throw refuse("ERR_TOKEN_CLAIMS", "access token cnf must carry a string jkt");
  }
  if (claims.status !== undefined) {
    const sl = isObject(claims.status) ? claims.status.status_list : undefined;
    if (
      !isObject(sl) ||
      !Number.isSafeInteger(sl.idx) ||
      (sl.idx as number) < 0 ||
      typeof sl.uri !== "string"
    ) {
      throw refuse(
        "ERR_TOKEN_CLAIMS",
        "access token status claim is malformed (draft-ietf-oauth-status-list §6.1)",
      );
    }
  }
  return claims as AccessTokenClaims;
}

/** A verified access token: its claims and the `kid` of the key that signed it. */
export interface VerifiedAccessToken {
  claims: AccessTokenClaims;
  kid: string;
}

/**
 * Verifies a Deputy access token and returns its claims, or throws a {@link VerificationError}
 * whose code names the failed step. DPoP binding and revocation are the caller's next steps.
 * Answers synchronously when the key is cached and the signature backend is synchronous
 * (node:crypto), so the cold path awaits nothing it does not have to; `await` works on both.
 *
 * @example
 * const { claims } = await verifyAccessToken(token, { issuer, audience, nowSec, leewaySec: 5, keys });
 */
export function verifyAccessToken(
  token: string,
  ctx: AccessTokenContext,
): VerifiedAccessToken | Promise<VerifiedAccessToken> {
  const jws = parseToken(token);
  checkAlgorithmAllowed(jws);
  checkTypAtJwt(jws);
  // Before any key lookup, so a foreign token neither gets a misleading "unknown key" nor makes
  // us refetch the JWKS. Nothing is accepted on these unsigned values: the signature comes next.
  checkIssuerAudience(jws.payload, ctx);
  const kid = checkKid(jws);
  const pending = verifySignature(jws, kid, ctx);
  if (pending !== undefined) return pending.then(() => checkClaims(jws, kid, ctx));
  return checkClaims(jws, kid, ctx);
}

/** The checks after the signature: only signed values are looked at from here on. */
function checkClaims(jws: ParsedJws, kid: string, ctx: AccessTokenContext): VerifiedAccessToken {
  checkLifetime(jws.payload, ctx);
  return { claims: checkRequiredClaims(jws.payload), kid };
}
