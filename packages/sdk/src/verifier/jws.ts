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
 * Where signatures are checked. The default ({@link defaultSignatureBackend}) is the runtime's
 * own `node:crypto` where it offers it without an import (Node ≥ 20.16, Bun, Deno), else Web
 * Crypto ({@link webCryptoBackend}).
 */
export interface SignatureBackend {
  /** For diagnostics: "web-crypto" or "node:crypto". */
  readonly name?: string;
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
  name: "web-crypto",
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

/** The part of `node:crypto` a signature backend needs (structural: no Node types here). */
export interface NodeCryptoLike {
  createPublicKey(options: { key: JsonWebKey; format: "jwk" }): unknown;
  verify(algorithm: string | null, data: Uint8Array, key: unknown, signature: Uint8Array): boolean;
}

/**
 * A backend on synchronous `node:crypto`: the same checks as Web Crypto, without Node's
 * thread-pool round trip per signature (about 1.5 × the throughput one call at a time; see
 * docs/benchmarks.md, `sdk-verify`).
 *
 * @example
 * const backend = nodeCryptoBackendOf(await import("node:crypto"));
 */
export function nodeCryptoBackendOf(nodeCrypto: NodeCryptoLike): SignatureBackend {
  return {
    name: "node:crypto",
    async importKey(jwk) {
      return nodeCrypto.createPublicKey({ key: jwk, format: "jwk" });
    },
    verify(alg, key, signature, data) {
      // RFC 7518 §3.4: the JWS ES256 signature is raw r || s, which node calls ieee-p1363.
      return alg === "EdDSA"
        ? nodeCrypto.verify(null, data, key, signature)
        : nodeCrypto.verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
    },
  };
}

/**
 * `node:crypto` if the runtime hands it out without an import statement
 * (`process.getBuiltinModule`, Node ≥ 20.16 and ≥ 22.3), so this module still imports nothing
 * Node-only and runs unchanged on runtimes without it.
 */
function runtimeNodeCrypto(): NodeCryptoLike | undefined {
  try {
    const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
      ?.getBuiltinModule;
    const mod =
      typeof get === "function" ? (get("node:crypto") as Partial<NodeCryptoLike> | undefined) : undefined;
    return typeof mod?.createPublicKey === "function" && typeof mod.verify === "function"
      ? (mod as NodeCryptoLike)
      : undefined;
  } catch {
    return undefined;
  }
}

const nodeCryptoHere = runtimeNodeCrypto();

/**
 * The backend the verifier uses unless told otherwise: `node:crypto` where the runtime offers it
 * ({@link nodeCryptoBackendOf}), else Web Crypto.
 */
export const defaultSignatureBackend: SignatureBackend =
  nodeCryptoHere !== undefined ? nodeCryptoBackendOf(nodeCryptoHere) : webCryptoBackend;

/** A public key ready for its backend, with the one `alg` it may verify. */
export interface VerifyKey {
  alg: "EdDSA" | "ES256";
  key: unknown;
  backend: SignatureBackend;
}

/** A compact JWS whose three parts are all base64url (the dots are counted before this runs). */
const COMPACT_B64URL = /^[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();
/** Shared: a stateless, fatal UTF-8 decoder (invalid UTF-8 in a JOSE header or payload is refused). */
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Any byte ≥ 0x80: the JSON is not plain ASCII and must be decoded as UTF-8. */
const NON_ASCII = /[\u0080-\u00ff]/;

/**
 * base64url → binary string (one char per byte) via `atob`; throws on bad input. No padding is
 * added: WHATWG forgiving-base64 (what `atob` implements) accepts unpadded input.
 */
function b64urlToBinary(part: string): string {
  return atob(part.replace(/-/g, "+").replace(/_/g, "/"));
}

function b64urlToBytes(part: string): Uint8Array<ArrayBuffer> {
  const bin = b64urlToBinary(part);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** base64url alphabet → 6-bit value; -1 for anything else. */
const B64URL_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++)
  B64URL_VALUE["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".charCodeAt(i)] = i;

/**
 * A signature part (unpadded base64url, alphabet already checked) straight to bytes: no string
 * rewriting or `atob` for the 86 characters every verification decodes. Undefined for a length
 * no base64 has (4n + 1) or non-zero trailing bits (RFC 4648 §3.5: not canonical).
 */
function signatureBytes(part: string): Uint8Array<ArrayBuffer> | undefined {
  const n = part.length;
  const rem = n & 3;
  if (rem === 1) return undefined;
  const out = new Uint8Array((n >> 2) * 3 + (rem === 0 ? 0 : rem - 1));
  const v = (i: number) => B64URL_VALUE[part.charCodeAt(i)] as number;
  let o = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (v(i) << 18) | (v(i + 1) << 12) | (v(i + 2) << 6) | v(i + 3);
    out[o++] = q >> 16;
    out[o++] = (q >> 8) & 255;
    out[o++] = q & 255;
  }
  if (rem === 2) {
    const q = (v(i) << 18) | (v(i + 1) << 12);
    if (q & 0xffff) return undefined;
    out[o] = q >> 16;
  } else if (rem === 3) {
    const q = (v(i) << 18) | (v(i + 1) << 12) | (v(i + 2) << 6);
    if (q & 0xff) return undefined;
    out[o++] = q >> 16;
    out[o] = (q >> 8) & 255;
  }
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
  const dot1 = token.indexOf(".");
  const dot2 = dot1 === -1 ? -1 : token.indexOf(".", dot1 + 1);
  if (dot2 === -1 || token.indexOf(".", dot2 + 1) !== -1)
    return "is not a compact JWS (three dot-separated parts)";
  // One pass over the whole token instead of one per part.
  if (!COMPACT_B64URL.test(token)) return "is not base64url";
  const header = decodeJson(token.slice(0, dot1));
  if (!header) return "header is not a JSON object";
  // RFC 7515 §4.1.11: we understand no extensions, so any `crit` must be refused.
  if (header.crit !== undefined) return "header has crit extensions this verifier does not understand";
  const payload = decodeJson(token.slice(dot1 + 1, dot2));
  if (!payload) return "payload is not a JSON object";
  const signature = signatureBytes(token.slice(dot2 + 1));
  if (!signature) return "signature is not base64url";
  // RFC 7515 §5.2 step 8: the signing input is the token's own first two parts, as sent.
  return { header, payload, signingInput: encoder.encode(token.slice(0, dot2)), signature };
}

/**
 * Verifies the signature with a key whose algorithm matches the header's (RFC 8725 §3.1: the key
 * decides the algorithm, not the token). Synchronous when the backend is; never rejects.
 *
 * @example
 * if (!(await verifyJwsSignature(jws, key))) throw refuse("ERR_TOKEN_SIGNATURE", "bad signature");
 */
export function verifyJwsSignature(jws: ParsedJws, key: VerifyKey): boolean | Promise<boolean> {
  if (jws.header.alg !== key.alg) return false;
  // RFC 7518 §3.4: an ES256 signature is exactly 64 bytes; Ed25519's is 64 too (RFC 8032 §5.1.6).
  if (jws.signature.length !== 64) return false;
  try {
    const valid = key.backend.verify(key.alg, key.key, jws.signature, jws.signingInput);
    // A synchronous backend (node:crypto) answers at once: nothing to await on the hot path.
    if (typeof valid === "boolean") return valid;
    return Promise.resolve(valid).then(
      (v) => v === true,
      () => false,
    );
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
  backend: SignatureBackend = defaultSignatureBackend,
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
