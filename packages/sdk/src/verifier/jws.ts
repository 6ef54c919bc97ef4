/**
 * Compact JWS parsing and signature checks on Web Crypto (RFC 7515 §7.1), for the two algorithms
 * Deputy allows (RFC 8725 §3.1): EdDSA over Ed25519 (RFC 8037) and ES256 (RFC 7518 §3.4, whose
 * JWS signature is the raw `r || s` that Web Crypto's ECDSA expects).
 *
 * @example
 * const jws = parseCompactJws(token, 8192);
 * const ok = await verifyJwsSignature(jws, key);
 */
import { base64url } from "jose";

/** Signature algorithms Deputy accepts anywhere (DESIGN §4). */
export const ALLOWED_ALGS: readonly string[] = ["EdDSA", "ES256"];

/** A JWS split into its parts; `header` and `payload` are parsed JSON objects. */
export interface ParsedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: Uint8Array<ArrayBuffer>;
  signature: Uint8Array<ArrayBuffer>;
}

/**
 * Where signatures are checked. The default is Web Crypto ({@link webCryptoBackend}); on Node,
 * `@deputy/sdk/node` offers `nodeCryptoBackend` (synchronous node:crypto, lower latency per call).
 */
export interface SignatureBackend {
  /** Imports a public Ed25519 or P-256 JWK (only `kty`, `crv`, `x`, `y`); throws when it is not a valid key. */
  importKey(jwk: JsonWebKey, alg: "EdDSA" | "ES256"): Promise<unknown>;
  /** True when `signature` (raw JWS form: 64 bytes) is valid over `data`. */
  verify(
    alg: "EdDSA" | "ES256",
    key: unknown,
    signature: Uint8Array<ArrayBuffer>,
    data: Uint8Array<ArrayBuffer>,
  ): boolean | Promise<boolean>;
}

const PARAMS = {
  EdDSA: { name: "Ed25519" },
  ES256: { name: "ECDSA", hash: "SHA-256" },
} as const;

/** Web Crypto: runs on every runtime with `crypto.subtle` (Node ≥ 20, Deno, Bun, browsers, workers). */
export const webCryptoBackend: SignatureBackend = {
  importKey: (jwk, alg) =>
    crypto.subtle.importKey(
      "jwk",
      jwk,
      alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    ),
  verify: (alg, key, signature, data) => crypto.subtle.verify(PARAMS[alg], key as CryptoKey, signature, data),
};

/** A public key ready for its backend, with the one `alg` it may verify. */
export interface VerifyKey {
  alg: "EdDSA" | "ES256";
  key: unknown;
  backend: SignatureBackend;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const encoder = new TextEncoder();
/** Shared: a stateless, fatal UTF-8 decoder (invalid UTF-8 in a JOSE header or payload is refused). */
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Any byte ≥ 0x80: the JSON is not plain ASCII and must be decoded as UTF-8. */
const NON_ASCII = /[\u0080-\u00ff]/;

/** base64url → binary string (one char per byte) via `atob`; throws on bad input. */
function b64urlToBinary(part: string): string {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  return atob(b64 + "===".slice((b64.length + 3) % 4));
}

function b64urlToBytes(part: string): Uint8Array<ArrayBuffer> {
  const bin = b64urlToBinary(part);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const bin = b64urlToBinary(part);
    // ASCII JSON (the usual case) parses as is; anything else goes through a fatal UTF-8 decode.
    const text = NON_ASCII.test(bin) ? decoder.decode(b64urlToBytes(part)) : bin;
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Splits a compact JWS; answers a reason string instead of throwing when it is malformed, so
 * each caller maps it to its own error code.
 *
 * @example
 * const jws = parseCompactJws(token, 8192);
 * if (typeof jws === "string") throw refuse("ERR_TOKEN_MALFORMED", jws);
 */
export function parseCompactJws(token: string, maxLength: number): ParsedJws | string {
  if (token.length === 0) return "is empty";
  if (token.length > maxLength) return `is longer than ${maxLength} characters`;
  const parts = token.split(".");
  if (parts.length !== 3) return "is not a compact JWS (three dot-separated parts)";
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s) || s.length === 0) return "is not base64url";
  const header = decodeJson(h);
  if (!header) return "header is not a JSON object";
  // RFC 7515 §4.1.11: we understand no extensions, so any `crit` must be refused.
  if (header.crit !== undefined) return "header has crit extensions this verifier does not understand";
  const payload = decodeJson(p);
  if (!payload) return "payload is not a JSON object";
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = b64urlToBytes(s);
  } catch {
    return "signature is not base64url";
  }
  return { header, payload, signingInput: encoder.encode(`${h}.${p}`), signature };
}

/**
 * Verifies the signature with a key whose algorithm matches the header's (RFC 8725 §3.1: the key
 * decides the algorithm, not the token).
 *
 * @example
 * if (!(await verifyJwsSignature(jws, key))) throw refuse("ERR_TOKEN_SIGNATURE", "bad signature");
 */
export async function verifyJwsSignature(jws: ParsedJws, key: VerifyKey): Promise<boolean> {
  if (jws.header.alg !== key.alg) return false;
  // RFC 7518 §3.4: an ES256 signature is exactly 64 bytes; Ed25519's is 64 too (RFC 8032 §5.1.6).
  if (jws.signature.length !== 64) return false;
  try {
    return await key.backend.verify(key.alg, key.key, jws.signature, jws.signingInput);
  } catch {
    return false;
  }
}

/** The algorithm an Ed25519 or P-256 public JWK verifies, or undefined for any other key. */
export function algOfJwk(jwk: Record<string, unknown>): "EdDSA" | "ES256" | undefined {
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519" && typeof jwk.x === "string") return "EdDSA";
  if (jwk.kty === "EC" && jwk.crv === "P-256" && typeof jwk.x === "string" && typeof jwk.y === "string")
    return "ES256";
  return undefined;
}

/** Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4, RFC 8037 §2). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/**
 * Imports a public Ed25519 or P-256 JWK for verification; undefined for anything else (an RSA or
 * symmetric key, a private key, a malformed point).
 *
 * @example
 * const key = await importPublicJwk({ kty: "OKP", crv: "Ed25519", x: "…" });
 */
export async function importPublicJwk(
  jwk: Record<string, unknown>,
  backend: SignatureBackend = webCryptoBackend,
): Promise<VerifyKey | undefined> {
  const alg = algOfJwk(jwk);
  if (alg === undefined) return undefined;
  if (PRIVATE_MEMBERS.some((m) => jwk[m] !== undefined)) return undefined;
  if (jwk.alg !== undefined && jwk.alg !== alg) return undefined;
  const members: JsonWebKey =
    alg === "EdDSA"
      ? { kty: "OKP", crv: "Ed25519", x: jwk.x as string }
      : { kty: "EC", crv: "P-256", x: jwk.x as string, y: jwk.y as string };
  try {
    return { alg, key: await backend.importKey(members, alg), backend };
  } catch {
    return undefined;
  }
}

/**
 * RFC 7638 SHA-256 thumbprint of an Ed25519 or P-256 public JWK (required members, sorted).
 *
 * @example
 * await jwkThumbprint({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
 * // "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
 */
export async function jwkThumbprint(jwk: Record<string, unknown>): Promise<string> {
  const json =
    jwk.kty === "EC"
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return sha256B64url(json);
}

/**
 * base64url(SHA-256(UTF-8 bytes)).
 *
 * @example
 * const ath = await sha256B64url(accessToken); // RFC 9449 §4.2
 */
export async function sha256B64url(text: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}
