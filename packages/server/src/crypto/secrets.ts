/**
 * Secret handling: generation, hashing at rest, constant-time comparison, and envelope
 * encryption with the master key (AES-256-GCM, NIST SP 800-38D: 96-bit random IV, 128-bit tag).
 *
 * Opaque secrets (admin, principal and resource tokens) carry 256 bits of randomness, so a single
 * SHA-256 is the right hash at rest: a slow password hash buys nothing against a 2^256 search.
 *
 * @example
 * const token = newSecret("dpt");          // "dpt_…" shown once
 * const hash = hashSecret(token);          // stored
 * const box = sealWithKey(masterKey, pkcs8, "issuer-key");
 * openWithKey(masterKey, box, "issuer-key");
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A new opaque secret: prefix + 256 random bits, base64url. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString("base64url")}`;
}

/** SHA-256 hex of a secret, for storage and lookup. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Constant-time string equality (lengths may leak, contents do not). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

const VERSION = "v1";

/**
 * Encrypts `plaintext` under a 32-byte key. `context` is bound as AAD so a ciphertext cannot be
 * moved to another purpose (an issuer key box cannot be opened as a vault secret).
 * Output: `v1.<iv>.<ciphertext>.<tag>` (base64url parts).
 */
export function sealWithKey(key: Buffer, plaintext: Buffer, context: string): string {
  if (key.length !== 32) throw new Error("master key must be 32 bytes");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(context, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [
    VERSION,
    iv.toString("base64url"),
    ct.toString("base64url"),
    cipher.getAuthTag().toString("base64url"),
  ].join(".");
}

/** Decrypts a box from {@link sealWithKey}; throws if the key, context or bytes are wrong. */
export function openWithKey(key: Buffer, box: string, context: string): Buffer {
  const [version, iv, ct, tag] = box.split(".");
  if (version !== VERSION || !iv || ct === undefined || !tag) throw new Error("malformed sealed box");
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
  decipher.setAAD(Buffer.from(context, "utf8"));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  return Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]);
}
