/**
 * DPoP proof verification, every check of RFC 9449 §4.3 except `jti` replay, which needs a store.
 *
 * @example
 * const proof = verifyDpopProof(req.headers.dpop, { htm: "POST", htu: tokenEndpoint, now });
 * if (!(await store.nonces.consumeOnce(`dpop:${proof.jkt}:${proof.jti}`, expiresAt, now))) throw …;
 */
import { createHash } from "node:crypto";
import { ALLOWED_ALGS, type AllowedAlg, DeputyError } from "@deputy/protocol";
import { type ImportedJwk, importAgentPublicJwk, type PublicJwk } from "../crypto/jwk.js";
import {
  JwsFormatError,
  type ParsedJws,
  parseCompactJws,
  prefetchJwsSignature,
  verifyJwsSignature,
} from "../crypto/jws.js";
import { isStorableText } from "../crypto/text.js";

/** The request a DPoP proof must match, and the optional bindings (RFC 9449 §4.3). */
export interface DpopCheckOptions {
  /** The request's HTTP method, e.g. "POST". */
  htm: string;
  /** The request's absolute URI as the server sees it (query and fragment are ignored). */
  htu: string;
  /** Current time, epoch seconds. */
  now: number;
  /** Oldest acceptable `iat`, in seconds before `now`. Default 60. */
  maxAgeSec?: number;
  /** Newest acceptable `iat`, in seconds after `now`. Default 5. */
  futureSkewSec?: number;
  /** When the proof accompanies an access token: its `ath` must be that token's hash. */
  accessToken?: string;
  /** The thumbprint the access token is bound to (`cnf.jkt`): the proof key must be that key. */
  expectedJkt?: string;
  /** The server-provided nonce the proof must carry (RFC 9449 §8), or the list of accepted ones. */
  nonce?: string | readonly string[];
}

/** The result of {@link verifyDpopProof}. */
export interface VerifiedDpopProof {
  /** RFC 7638 thumbprint of the proof key, for `cnf.jkt` (RFC 9449 §6.1). */
  jkt: string;
  /** The proof's `jti`; the caller must consume it once (RFC 9449 §11.1). */
  jti: string;
  iat: number;
  jwk: PublicJwk;
}

const DEFAULT_MAX_AGE_SEC = 60;
const DEFAULT_FUTURE_SKEW_SEC = 5;
const MAX_JTI_LENGTH = 256;
const MAX_PROOF_LENGTH = 8192;

function fail(reason: string, cause?: unknown): DeputyError {
  return new DeputyError("ERR_INVALID_DPOP_PROOF", reason, cause === undefined ? undefined : { cause });
}

function parseProof(proof: unknown): ParsedJws {
  if (typeof proof !== "string" || proof.length === 0) throw fail("DPoP proof is missing");
  // RFC 9449 §4.3 step 1: exactly one DPoP header; several fields arrive joined by ", ".
  if (/[\s,]/.test(proof)) throw fail("more than one DPoP proof was sent");
  try {
    return parseCompactJws(proof, MAX_PROOF_LENGTH);
  } catch (e) {
    if (e instanceof JwsFormatError) throw fail(`DPoP proof ${e.reason}`);
    throw e;
  }
}

function checkHeader(jws: ParsedJws): { alg: AllowedAlg; key: ImportedJwk } {
  const { typ, alg, jwk } = jws.header;
  if (typ !== "dpop+jwt") throw fail('DPoP proof typ must be "dpop+jwt"');
  if (!(ALLOWED_ALGS as readonly unknown[]).includes(alg)) throw fail("DPoP proof alg is not allowed");
  if (jwk === undefined) throw fail("DPoP proof has no jwk header");
  let key: ImportedJwk;
  try {
    // RFC 9449 §4.3 step 7: a private key in the header is refused (ERR_PRIVATE_KEY_MEMBERS).
    key = importAgentPublicJwk(jwk);
  } catch (e) {
    if (e instanceof DeputyError) throw fail(`DPoP proof jwk: ${e.message}`, e);
    throw e;
  }
  if (key.alg !== alg) throw fail("DPoP proof alg does not match its jwk");
  return { alg: alg as AllowedAlg, key };
}

/** RFC 3986 §6.2.2.2: percent-encodings of unreserved characters are decoded, the rest uppercased. */
function normalizePercentEncoding(s: string): string {
  if (!s.includes("%")) return s;
  return s.replace(/%[0-9a-fA-F]{2}/g, (m) => {
    const ch = String.fromCharCode(Number.parseInt(m.slice(1), 16));
    return /[A-Za-z0-9\-._~]/.test(ch) ? ch : m.toUpperCase();
  });
}

/**
 * RFC 9449 §4.3 step 9: the URI without query and fragment, normalized per RFC 3986 §6.2.2 and
 * §6.2.3 (WHATWG URL lowercases scheme and host, drops the default port, makes an empty path "/"
 * and removes dot segments). Undefined for anything but an absolute http(s) URL.
 */
function normalizeHtu(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  url.search = "";
  url.hash = "";
  return normalizePercentEncoding(url.href);
}

function checkClaims(claims: Record<string, unknown>, opts: DpopCheckOptions): { jti: string; iat: number } {
  const { jti, htm, htu, iat } = claims;
  if (typeof jti !== "string" || jti.length === 0) throw fail("DPoP proof has no jti");
  if (jti.length > MAX_JTI_LENGTH) throw fail(`DPoP proof jti is longer than ${MAX_JTI_LENGTH} characters`);
  if (!isStorableText(jti)) throw fail("DPoP proof jti contains U+0000 or an unpaired surrogate");
  if (typeof htm !== "string") throw fail("DPoP proof has no htm");
  if (htm !== opts.htm) throw fail("DPoP proof htm does not match the request method");
  if (typeof htu !== "string") throw fail("DPoP proof has no htu");
  const expected = normalizeHtu(opts.htu);
  if (expected === undefined)
    throw new DeputyError("ERR_INTERNAL", "request URI for the DPoP check is not absolute");
  if (normalizeHtu(htu) !== expected) throw fail("DPoP proof htu does not match the request URI");
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw fail("DPoP proof has no numeric iat");
  // RFC 9449 §11.1: a short acceptance window bounds how long a jti must be remembered.
  if (iat < opts.now - (opts.maxAgeSec ?? DEFAULT_MAX_AGE_SEC)) throw fail("DPoP proof iat is too old");
  if (iat > opts.now + (opts.futureSkewSec ?? DEFAULT_FUTURE_SKEW_SEC))
    throw fail("DPoP proof iat is in the future");
  return { jti, iat };
}

function checkBindings(claims: Record<string, unknown>, jkt: string, opts: DpopCheckOptions): void {
  // RFC 9449 §8: a missing or stale nonce gets `use_dpop_nonce` so the client retries with a fresh one.
  const nonceOk =
    typeof opts.nonce === "string"
      ? claims.nonce === opts.nonce
      : typeof claims.nonce === "string" && (opts.nonce?.includes(claims.nonce) ?? true);
  if (opts.nonce !== undefined && !nonceOk) {
    throw new DeputyError("ERR_USE_DPOP_NONCE", "DPoP proof nonce is missing or stale");
  }
  if (opts.accessToken !== undefined) {
    // RFC 9449 §4.3 step 10 / §4.2: ath = base64url(SHA-256(ASCII(access token))).
    const ath = createHash("sha256").update(opts.accessToken, "latin1").digest("base64url");
    if (typeof claims.ath !== "string") throw fail("DPoP proof has no ath for the access token");
    if (claims.ath !== ath) throw fail("DPoP proof ath does not match the access token");
  }
  // RFC 9449 §7.1: the proof must be signed by the very key the access token is bound to.
  if (opts.expectedJkt !== undefined && jkt !== opts.expectedJkt) {
    throw fail("DPoP proof key is not the key the access token is bound to");
  }
}

/**
 * Verifies a DPoP proof (RFC 9449 §4.3): a single proof, `typ` `dpop+jwt`, an allowed `alg`, a
 * public `jwk` that verifies the signature, `jti`, `htm`, `htu`, `iat` within
 * `[now − maxAgeSec, now + futureSkewSec]`, and, when asked, `ath`, the bound key (`expectedJkt`)
 * and the server `nonce`. Throws `ERR_INVALID_DPOP_PROOF` (or `ERR_USE_DPOP_NONCE`).
 *
 * Replay is NOT checked here: the caller must consume the returned `jti` (scoped to `jkt`)
 * exactly once in its store, for at least `maxAgeSec + futureSkewSec` seconds.
 *
 * @example
 * const { jkt, jti } = verifyDpopProof(dpopHeader, {
 *   htm: "GET", htu: "https://api.example/v1/agents", now: Math.floor(Date.now() / 1000),
 *   accessToken, expectedJkt: claims.cnf.jkt,
 * });
 */
export function verifyDpopProof(proof: string, opts: DpopCheckOptions): VerifiedDpopProof {
  const jws = parseProof(proof);
  const { alg, key } = checkHeader(jws);
  if (!verifyJwsSignature(alg, key.keyObject, jws.signingInput, jws.signature)) {
    throw fail("DPoP proof signature is invalid");
  }
  const { jti, iat } = checkClaims(jws.payload, opts);
  checkBindings(jws.payload, key.kid, opts);
  return { jkt: key.kid, jti, iat, jwk: key.jwk };
}

/**
 * Starts the proof's signature check on the thread pool (see {@link prefetchJwsSignature}) so
 * that {@link verifyDpopProof} later answers from it. Decides nothing and never throws: a
 * malformed proof is left for `verifyDpopProof` to refuse with the right reason.
 *
 * @example
 * const pending = prefetchDpopProof(request.headers.dpop);
 * // … other work …
 * await pending;
 * verifyDpopProof(request.headers.dpop, opts);
 */
export function prefetchDpopProof(proof: unknown): Promise<unknown> {
  try {
    if (typeof proof !== "string" || /[\s,]/.test(proof)) return Promise.resolve();
    const jws = parseCompactJws(proof, MAX_PROOF_LENGTH);
    const alg = jws.header.alg;
    if (!(ALLOWED_ALGS as readonly unknown[]).includes(alg)) return Promise.resolve();
    const { keyObject } = importAgentPublicJwk(jws.header.jwk);
    return prefetchJwsSignature(alg as AllowedAlg, keyObject, jws.signingInput, jws.signature);
  } catch {
    return Promise.resolve();
  }
}
