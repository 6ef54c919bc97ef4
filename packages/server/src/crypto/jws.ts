/**
 * Compact JWS (RFC 7515 §7.1) parsing, signing and signature checks on synchronous `node:crypto`.
 * Only the algorithms on Deputy's allow-list exist here (RFC 8725 §3.1).
 *
 * @example
 * const jws = parseCompactJws(token);
 * const ok = verifyJwsSignature("EdDSA", key, jws.signingInput, jws.signature);
 */
import { type KeyObject, sign, verify } from "node:crypto";
import type { AllowedAlg } from "@deputy/protocol";
import { hasCanonicalTail } from "./base64url.js";

/** Largest compact JWS accepted anywhere by default; Deputy's own tokens are well under 2 KiB. */
export const MAX_JWS_LENGTH = 8192;

/** The protected header of a JWS. Only the members Deputy reads are typed. */
export interface JwsHeader {
  alg?: unknown;
  typ?: unknown;
  kid?: unknown;
  jwk?: unknown;
  [member: string]: unknown;
}

/** A parsed, not yet verified, compact JWS. */
export interface ParsedJws {
  header: JwsHeader;
  payload: Record<string, unknown>;
  /** ASCII bytes of `header.payload` (RFC 7515 §5.2 step 8). */
  signingInput: Buffer;
  signature: Buffer;
}

/**
 * A compact JWS that is malformed. Internal: callers map it to their own `DeputyError` code;
 * `reason` is safe to show.
 *
 * @example
 * try { parseCompactJws(t); } catch (e) {
 *   if (e instanceof JwsFormatError) throw new DeputyError("ERR_INVALID_TOKEN", `access token ${e.reason}`);
 * }
 */
export class JwsFormatError extends Error {
  override readonly name = "JwsFormatError";
  constructor(readonly reason: string) {
    super(reason);
  }
}

const COMPACT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The reason a string failing {@link COMPACT_RE} is not a compact JWS (slow path only). */
function diagnose(token: string): string {
  const parts = token.split(".");
  if (parts.length === 5) return "is a JWE, not a JWS";
  if (parts.length !== 3) return "is not a compact JWS (expected 3 segments)";
  if (parts[2] === "") return "has an empty signature";
  if (parts[0] === "" || parts[1] === "") return "has an empty segment";
  return "contains characters outside base64url";
}

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  if (!hasCanonicalTail(segment)) throw new JwsFormatError(`${what} is not canonical base64url`);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, "base64url")));
  } catch {
    throw new JwsFormatError(`${what} is not valid UTF-8 JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new JwsFormatError(`${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Splits and decodes a compact JWS without verifying it. Rejects oversized input, JWE, empty
 * or non-canonical segments, non-object header or payload, and any `crit` header.
 *
 * @example
 * const { header, payload, signingInput, signature } = parseCompactJws(token, 4096);
 */
export function parseCompactJws(token: string, maxLength: number = MAX_JWS_LENGTH): ParsedJws {
  if (typeof token !== "string" || token.length === 0) throw new JwsFormatError("is empty");
  if (token.length > maxLength) throw new JwsFormatError(`is longer than ${maxLength} characters`);
  if (!COMPACT_RE.test(token)) throw new JwsFormatError(diagnose(token));
  const dot1 = token.indexOf(".");
  const dot2 = token.indexOf(".", dot1 + 1);
  const sigSegment = token.slice(dot2 + 1);
  if (!hasCanonicalTail(sigSegment)) throw new JwsFormatError("signature is not canonical base64url");
  const header = decodeJsonObject(token.slice(0, dot1), "header") as JwsHeader;
  // RFC 7515 §4.1.11: Deputy understands no extensions, so any `crit` must be refused.
  if (header.crit !== undefined) throw new JwsFormatError("header has a crit member Deputy does not support");
  const payload = decodeJsonObject(token.slice(dot1 + 1, dot2), "payload");
  return {
    header,
    payload,
    signingInput: Buffer.from(token.slice(0, dot2), "latin1"),
    signature: Buffer.from(sigSegment, "base64url"),
  };
}

/** Ed25519 (RFC 8032 §5.1.6) and ES256 in JOSE form (RFC 7518 §3.4: R || S) are both 64 bytes. */
const SIGNATURE_LENGTH = 64;

function keyMatchesAlg(alg: AllowedAlg, key: KeyObject): boolean {
  if (alg === "EdDSA") return key.asymmetricKeyType === "ed25519";
  return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
}

/**
 * Checks a JWS signature. Returns false (never throws) for a wrong-length signature, a key of
 * another type than `alg` demands, or an algorithm outside the allow-list.
 *
 * @example
 * if (!verifyJwsSignature("ES256", key, jws.signingInput, jws.signature)) throw …;
 */
export function verifyJwsSignature(
  alg: AllowedAlg,
  keyObject: KeyObject,
  signingInput: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== SIGNATURE_LENGTH || !keyMatchesAlg(alg, keyObject)) return false;
  const prefetched = takePrefetched(keyObject, signingInput, signature);
  if (prefetched !== undefined) return prefetched;
  try {
    if (alg === "EdDSA") return verify(null, signingInput, keyObject, signature);
    if (alg === "ES256")
      return verify("sha256", signingInput, { key: keyObject, dsaEncoding: "ieee-p1363" }, signature);
  } catch {
    return false;
  }
  return false;
}

/**
 * Signs a compact JWS; `alg` is written into the header.
 *
 * @example
 * const jwt = signCompactJws({ typ: "at+jwt", kid }, claims, issuerKey, "EdDSA");
 */
export function signCompactJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  privateKey: KeyObject,
  alg: AllowedAlg,
): string {
  if (header.alg !== undefined && header.alg !== alg)
    throw new Error("signCompactJws: header alg differs from alg");
  const input = `${Buffer.from(JSON.stringify({ ...header, alg })).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  const data = Buffer.from(input, "latin1");
  let signature: Buffer;
  if (alg === "EdDSA") signature = sign(null, data, privateKey);
  else if (alg === "ES256") signature = sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
  else throw new Error("signCompactJws: algorithm is not on the allow-list");
  return `${input}.${signature.toString("base64url")}`;
}

/**
 * Results of signature checks already run off the main thread by {@link prefetchJwsSignature},
 * keyed by the signature bytes; an entry answers only for the identical key, signing input and
 * signature, and is used once.
 */
const prefetched = new Map<string, { key: KeyObject; input: Buffer; ok: boolean }>();
const MAX_PREFETCHED = 4096;

function takePrefetched(key: KeyObject, input: Uint8Array, signature: Uint8Array): boolean | undefined {
  if (prefetched.size === 0) return undefined;
  const id = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString("base64");
  const hit = prefetched.get(id);
  if (hit === undefined || !(hit.key === key || hit.key.equals(key)) || !hit.input.equals(input))
    return undefined;
  prefetched.delete(id);
  return hit.ok;
}

/**
 * Runs the same signature check as {@link verifyJwsSignature} on libuv's thread pool (node:crypto's
 * callback form) and remembers the result, so the synchronous check that follows costs a lookup.
 * The token endpoint starts these for the client assertion and the DPoP proof at once, so both
 * Ed25519 verifications run in parallel, on other cores, while the event loop reads the store.
 * Never throws; a failure to prefetch just means the synchronous path does the work.
 *
 * @example
 * await prefetchJwsSignature("EdDSA", key, jws.signingInput, jws.signature);
 * verifyJwsSignature("EdDSA", key, jws.signingInput, jws.signature); // answered from the prefetch
 */
export function prefetchJwsSignature(
  alg: AllowedAlg,
  keyObject: KeyObject,
  signingInput: Uint8Array,
  signature: Uint8Array,
): Promise<void> {
  if (signature.length !== SIGNATURE_LENGTH || !keyMatchesAlg(alg, keyObject)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (err: Error | null, ok: boolean) => {
      if (!err) {
        if (prefetched.size >= MAX_PREFETCHED) prefetched.clear();
        prefetched.set(
          Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString("base64"),
          {
            key: keyObject,
            input: Buffer.from(signingInput),
            ok,
          },
        );
      }
      resolve();
    };
    try {
      if (alg === "EdDSA") verify(null, signingInput, keyObject, signature, done);
      else verify("sha256", signingInput, { key: keyObject, dsaEncoding: "ieee-p1363" }, signature, done);
    } catch {
      resolve();
    }
  });
}

/**
 * {@link signCompactJws} with the signature computed on libuv's thread pool.
 *
 * @example
 * const jwt = await signCompactJwsAsync({ typ: "at+jwt", kid }, claims, issuerKey, "EdDSA");
 */
export function signCompactJwsAsync(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  privateKey: KeyObject,
  alg: AllowedAlg,
): Promise<string> {
  if (header.alg !== undefined && header.alg !== alg) {
    return Promise.reject(new Error("signCompactJws: header alg differs from alg"));
  }
  const input = `${Buffer.from(JSON.stringify({ ...header, alg })).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, sig: Buffer) =>
      err ? reject(err) : resolve(`${input}.${sig.toString("base64url")}`);
    if (alg === "EdDSA") sign(null, Buffer.from(input), privateKey, done);
    else sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" }, done);
  });
}
