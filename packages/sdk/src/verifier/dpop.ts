/**
 * DPoP proof checks at a resource server (RFC 9449 §4.3 and §7.1): one proof, `typ` `dpop+jwt`,
 * an allowed asymmetric `alg`, a public `jwk` that verifies the signature, `htm` and `htu` of
 * this very request, a fresh `iat`, `ath` = the token's hash, the key the token is bound to
 * (`cnf.jkt`), the server nonce when one is required, and a `jti` never seen before.
 *
 * @example
 * const { jkt } = await verifyDpopProof(proof, { htm: "GET", htu: url, nowSec, accessToken, expectedJkt, replay });
 */
import { refuse } from "./errors.js";
import {
  ALLOWED_ALGS,
  importPublicJwk,
  jwkThumbprint,
  parseCompactJws,
  type SignatureBackend,
  sha256B64url,
  verifyJwsSignature,
} from "./jws.js";
import type { ReplayCache } from "./replay-cache.js";

/** Server-provided nonces (RFC 9449 §8). */
export interface DpopNonceSource {
  /** The nonce to hand out now (sent in `DPoP-Nonce`). */
  current(): string;
  /** True when a proof's nonce is still acceptable. */
  isValid(nonce: string): boolean;
}

export interface DpopCheckOptions {
  htm: string;
  /** The request's absolute URL as the client addressed it. */
  htu: string;
  nowSec: number;
  /** Oldest acceptable `iat`, seconds before now. Default 60. */
  maxAgeSec?: number;
  /** Newest acceptable `iat`, seconds after now. Default 5. */
  futureSkewSec?: number;
  accessToken: string;
  /** `cnf.jkt` of the access token. */
  expectedJkt: string;
  replay: ReplayCache;
  nonce?: DpopNonceSource;
  backend?: SignatureBackend;
}

const MAX_PROOF_LENGTH = 8192;
const MAX_JTI_LENGTH = 256;

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
 * §6.2.3 (WHATWG URL lowercases scheme and host, drops a default port, makes an empty path "/"
 * and removes dot segments). Undefined for anything but an absolute http(s) URL.
 *
 * @example
 * normalizeHtu("HTTPS://API.example.com:443/a/../b?x=1"); // "https://api.example.com/b"
 */
export function normalizeHtu(uri: string): string | undefined {
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

/**
 * Verifies a DPoP proof for one request and consumes its `jti`. Throws a VerificationError
 * (`ERR_DPOP_*`, or `ERR_USE_DPOP_NONCE` carrying the nonce to send).
 *
 * @example
 * await verifyDpopProof(req.headers.get("dpop")!, { htm: "POST", htu: "https://api.example/x", nowSec, accessToken, expectedJkt: claims.cnf.jkt, replay });
 */
export async function verifyDpopProof(proof: string, o: DpopCheckOptions): Promise<{ jkt: string }> {
  // RFC 9449 §4.3 step 1: exactly one proof; several header fields arrive joined by ", ".
  if (/[\s,]/.test(proof)) throw refuse("ERR_DPOP_MALFORMED", "exactly one DPoP proof is allowed");
  const jws = parseCompactJws(proof, MAX_PROOF_LENGTH);
  if (typeof jws === "string") throw refuse("ERR_DPOP_MALFORMED", `DPoP proof ${jws}`);
  const { typ, alg, jwk } = jws.header;
  if (typ !== "dpop+jwt") throw refuse("ERR_DPOP_TYP", 'DPoP proof typ must be "dpop+jwt"');
  if (!ALLOWED_ALGS.includes(alg as string))
    throw refuse("ERR_DPOP_ALG_NOT_ALLOWED", "DPoP proof alg is not allowed");
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk))
    throw refuse("ERR_DPOP_JWK", "DPoP proof has no jwk header");
  // RFC 9449 §4.3 step 7: importPublicJwk refuses private members and foreign key types.
  const key = await importPublicJwk(jwk as Record<string, unknown>, o.backend);
  if (!key || key.alg !== alg)
    throw refuse("ERR_DPOP_JWK", "DPoP proof jwk is not a public Ed25519 or P-256 key for its alg");
  if (!(await verifyJwsSignature(jws, key)))
    throw refuse("ERR_DPOP_SIGNATURE", "DPoP proof signature is invalid");

  const { jti, htm, htu, iat, ath, nonce } = jws.payload;
  if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw refuse("ERR_DPOP_MALFORMED", "DPoP proof jti is missing or too long");
  }
  if (htm !== o.htm)
    throw refuse("ERR_DPOP_HTM_MISMATCH", "DPoP proof htm does not match the request method");
  const expected = normalizeHtu(o.htu);
  if (typeof htu !== "string" || expected === undefined || normalizeHtu(htu) !== expected) {
    throw refuse("ERR_DPOP_HTU_MISMATCH", "DPoP proof htu does not match the request URL");
  }
  if (typeof iat !== "number" || !Number.isFinite(iat))
    throw refuse("ERR_DPOP_MALFORMED", "DPoP proof has no numeric iat");
  const maxAge = o.maxAgeSec ?? 60;
  const future = o.futureSkewSec ?? 5;
  // RFC 9449 §11.1: a short window bounds how long a jti must be remembered.
  if (iat < o.nowSec - maxAge) throw refuse("ERR_DPOP_IAT", "DPoP proof iat is too old");
  if (iat > o.nowSec + future) throw refuse("ERR_DPOP_IAT", "DPoP proof iat is in the future");
  // RFC 9449 §9: a missing or stale nonce is answered with use_dpop_nonce and a fresh one.
  if (o.nonce && (typeof nonce !== "string" || !o.nonce.isValid(nonce))) {
    throw refuse("ERR_USE_DPOP_NONCE", "DPoP proof nonce is missing or stale", {
      dpopNonce: o.nonce.current(),
    });
  }
  // RFC 9449 §4.3 step 10, §7.1: ath = base64url(SHA-256(ASCII(access token))).
  if (typeof ath !== "string" || ath !== (await sha256B64url(o.accessToken))) {
    throw refuse("ERR_DPOP_ATH_MISMATCH", "DPoP proof ath does not match the access token");
  }
  const jkt = await jwkThumbprint(jwk as Record<string, unknown>);
  // RFC 9449 §7.1: the proof must be signed by the very key the access token is bound to.
  if (jkt !== o.expectedJkt)
    throw refuse("ERR_DPOP_KEY_MISMATCH", "DPoP proof key is not the key the token is bound to");
  // Last, so a proof refused for any other reason does not burn its jti.
  if (!o.replay.consume(`${jkt}:${jti}`, iat, iat + maxAge + future + 1, o.nowSec)) {
    throw refuse("ERR_DPOP_REPLAYED", "DPoP proof was already used");
  }
  return { jkt };
}

/**
 * An in-memory nonce source for one process: a random nonce per window, accepting the current
 * and the previous one. Several instances behind one load balancer need a shared source.
 *
 * @example
 * const verifier = createVerifier({ issuer, audience, dpop: { nonce: rotatingNonces(() => Date.now()) } });
 */
export function rotatingNonces(now: () => number, windowMs = 60_000): DpopNonceSource {
  let window = Number.NaN;
  let current = "";
  let previous = "";
  const fresh = () => {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };
  const roll = () => {
    const w = Math.floor(now() / windowMs);
    if (w === window) return;
    previous = w === window + 1 ? current : "";
    current = fresh();
    window = w;
  };
  return {
    current() {
      roll();
      return current;
    },
    isValid(nonce) {
      roll();
      return nonce.length > 0 && (nonce === current || nonce === previous);
    },
  };
}
