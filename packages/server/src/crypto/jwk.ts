/**
 * Agent public keys as JWKs: RFC 7638 thumbprints and a strict, cached import into `KeyObject`s.
 *
 * @example
 * const { jwk, keyObject, alg, kid } = importAgentPublicJwk(body.jwks.keys[0]);
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { DeputyError } from "@deputy/protocol";
import { isCanonicalBase64url } from "./base64url.js";

/** A normalized agent public key: only the members Deputy needs, `kid` = RFC 7638 thumbprint. */
export type PublicJwk =
  | { kty: "OKP"; crv: "Ed25519"; x: string; kid: string; alg: "EdDSA" }
  | { kty: "EC"; crv: "P-256"; x: string; y: string; kid: string; alg: "ES256" };

/** An imported agent public key. */
export interface ImportedJwk {
  jwk: PublicJwk;
  keyObject: KeyObject;
  alg: "EdDSA" | "ES256";
  /** RFC 7638 SHA-256 thumbprint, base64url. */
  kid: string;
}

/** RFC 7517 §6.2.2 / §6.3.2 / §6.4: members that only a private or symmetric key has. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] as const;

/** RFC 7638 §3.2: the required members of each key type, already in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ["crv", "kty", "x", "y"],
  OKP: ["crv", "kty", "x"],
  RSA: ["e", "kty", "n"],
  oct: ["k", "kty"],
};

/** Coordinates are 32 bytes for both Ed25519 (RFC 8037 §2) and P-256 (RFC 7518 §6.2.1.2). */
const COORD_B64_LENGTH = 43;

const CACHE_MAX = 4096;
const cache = new Map<string, ImportedJwk>();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unsupported(reason: string, cause?: unknown): DeputyError {
  return new DeputyError("ERR_UNSUPPORTED_KEY", reason, cause === undefined ? undefined : { cause });
}

/** RFC 7638 §3.3: the exact JSON over which the thumbprint hash is taken. */
function thumbprintInput(jwk: Record<string, unknown>): string {
  const kty = jwk.kty;
  const members = typeof kty === "string" ? THUMBPRINT_MEMBERS[kty] : undefined;
  if (members === undefined) throw unsupported("JWK kty must be one of OKP, EC, RSA or oct for a thumbprint");
  let out = "{";
  for (const name of members) {
    const value = jwk[name];
    if (typeof value !== "string") throw unsupported(`JWK member "${name}" is required and must be a string`);
    out += `${out.length > 1 ? "," : ""}"${name}":${JSON.stringify(value)}`;
  }
  return `${out}}`;
}

function sha256Base64url(input: string): string {
  return createHash("sha256").update(input, "utf8").digest("base64url");
}

/**
 * The RFC 7638 JWK thumbprint (SHA-256, base64url) over the key type's required members.
 * Works for OKP, EC, RSA and oct keys; Deputy only registers OKP Ed25519 and EC P-256.
 *
 * @example
 * jwkThumbprint({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
 * // "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" (RFC 8037 Appendix A.3)
 */
export function jwkThumbprint(jwk: unknown): string {
  if (!isObject(jwk)) throw unsupported("JWK must be a JSON object");
  return sha256Base64url(thumbprintInput(jwk));
}

function checkCoordinate(jwk: Record<string, unknown>, name: "x" | "y", curve: string): string {
  const value = jwk[name];
  if (typeof value !== "string") throw unsupported(`${curve} JWK is missing "${name}"`);
  if (value.length !== COORD_B64_LENGTH || !isCanonicalBase64url(value)) {
    throw unsupported(`${curve} JWK "${name}" must be 32 bytes of base64url`);
  }
  return value;
}

function checkOptionalMembers(jwk: Record<string, unknown>, alg: "EdDSA" | "ES256"): void {
  if (jwk.alg !== undefined && jwk.alg !== alg)
    throw unsupported(`JWK alg does not match its key type (expected ${alg})`);
  if (jwk.use !== undefined && jwk.use !== "sig") throw unsupported('JWK use must be "sig"');
  const ops = jwk.key_ops;
  // RFC 7517 §4.3: a public signature key is only ever used to verify.
  if (ops !== undefined && !(Array.isArray(ops) && ops.every((op) => op === "verify"))) {
    throw unsupported('JWK key_ops may only contain "verify"');
  }
}

function importValidated(jwk: Record<string, unknown>): ImportedJwk {
  if (jwk.kty === "OKP") {
    if (jwk.crv !== "Ed25519") throw unsupported("OKP JWK crv must be Ed25519");
    checkOptionalMembers(jwk, "EdDSA");
    const x = checkCoordinate(jwk, "x", "Ed25519");
    return cachedImport(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`, (kid) => ({
      kty: "OKP",
      crv: "Ed25519",
      x,
      kid,
      alg: "EdDSA",
    }));
  }
  if (jwk.kty === "EC") {
    if (jwk.crv !== "P-256") throw unsupported("EC JWK crv must be P-256");
    checkOptionalMembers(jwk, "ES256");
    const x = checkCoordinate(jwk, "x", "P-256");
    const y = checkCoordinate(jwk, "y", "P-256");
    return cachedImport(`{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`, (kid) => ({
      kty: "EC",
      crv: "P-256",
      x,
      y,
      kid,
      alg: "ES256",
    }));
  }
  throw unsupported("JWK kty must be OKP (Ed25519) or EC (P-256)");
}

/** `canonical` is the RFC 7638 input, so it doubles as an exact cache key for the public key. */
function cachedImport(canonical: string, build: (kid: string) => PublicJwk): ImportedJwk {
  const hit = cache.get(canonical);
  if (hit !== undefined) return hit;
  const jwk = build(sha256Base64url(canonical));
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({
      key:
        jwk.kty === "OKP"
          ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x }
          : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
      format: "jwk",
    });
  } catch (e) {
    throw unsupported(`${jwk.crv} JWK is not a valid public key (point not on the curve)`, e);
  }
  // Frozen: one cached object is handed to every caller.
  const imported: ImportedJwk = Object.freeze({
    jwk: Object.freeze(jwk),
    keyObject,
    alg: jwk.alg,
    kid: jwk.kid,
  });
  if (cache.size >= CACHE_MAX) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(canonical, imported);
  return imported;
}

/**
 * Validates an agent's public JWK and imports it. Accepts only OKP/Ed25519 (EdDSA) and
 * EC/P-256 (ES256); refuses private members with `ERR_PRIVATE_KEY_MEMBERS` and anything else
 * unusable with `ERR_UNSUPPORTED_KEY`. Imports are cached (bounded), so this is cheap to call
 * on every request.
 *
 * @example
 * const { jwk, kid } = importAgentPublicJwk({ kty: "OKP", crv: "Ed25519", x: "11qYAYKx…" });
 * // jwk = { kty: "OKP", crv: "Ed25519", x: "11qYAYKx…", kid, alg: "EdDSA" }
 */
export function importAgentPublicJwk(jwk: unknown): ImportedJwk {
  if (!isObject(jwk)) throw unsupported("JWK must be a JSON object");
  // Checked before anything else, and before the cache, so a private key is never accepted.
  for (const name of PRIVATE_MEMBERS) {
    if (jwk[name] !== undefined)
      throw new DeputyError("ERR_PRIVATE_KEY_MEMBERS", `JWK contains the private member "${name}"`);
  }
  return importValidated(jwk);
}

/**
 * The `KeyObject` of an agent public JWK, from the same validated, bounded cache as
 * {@link importAgentPublicJwk}.
 *
 * @example
 * const key = publicKeyFromJwk(record.jwk);
 * verifyJwsSignature("EdDSA", key, jws.signingInput, jws.signature);
 */
export function publicKeyFromJwk(jwk: unknown): KeyObject {
  return importAgentPublicJwk(jwk).keyObject;
}
