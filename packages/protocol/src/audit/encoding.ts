/**
 * Byte helpers for the audit code: standard padded base64 (RFC 4648 §4, the encoding C2SP
 * signed-note and tlog-checkpoint use), hex, UTF-8. No `Buffer`: this package runs anywhere.
 *
 * @example
 * encodeHash(rootHash);        // "3cnaeacGWamtVZy3Ad7Zoqudgjqt…="
 * decodeHash("3cnaeacGWam…="); // Uint8Array(32), or throws ERR_AUDIT_BAD_PROOF
 */
import { AuditVerificationError } from "./errors.js";

/** Bytes in a SHA-256 digest: every leaf, node and root hash of the log. */
export const HASH_SIZE = 32;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** RFC 4648 §4 base64 with padding. */
export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += `${ALPHABET[n >>> 18]!}${ALPHABET[(n >>> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += `${ALPHABET[n >>> 18]!}${ALPHABET[(n >>> 12) & 63]!}${ALPHABET[(n >>> 6) & 63]!}=`;
  }
  return out;
}

/**
 * Strict RFC 4648 §4 base64: padded, nothing outside the alphabet, no whitespace, and canonical
 * (the unused bits of the last character are zero, RFC 4648 §3.5), so each byte string has exactly
 * one accepted encoding and a note or checkpoint cannot be altered without changing its meaning.
 * Returns `null` when `text` is not such an encoding.
 */
export function base64Decode(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  let pad = 0;
  if (text.endsWith("==")) pad = 2;
  else if (text.endsWith("=")) pad = 1;
  const body = text.length - pad;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < body; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? DECODE[c]! : -1;
    if (v < 0) return null;
    buffer = ((buffer << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >>> bits) & 0xff;
    }
  }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (buffer & ((1 << bits) - 1)) !== 0) return null;
  return o === out.length ? out : null;
}

/** Lowercase hex. */
export function hexEncode(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Hex (either case, even length) to bytes, or `null`. */
export function hexDecode(text: string): Uint8Array | null {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** Decodes UTF-8, returning `null` on any invalid sequence (no replacement characters). */
export function utf8DecodeStrict(bytes: Uint8Array): string | null {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return null;
  }
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** A copy backed by a plain `ArrayBuffer`, as Web Crypto's `BufferSource` requires. */
export function ownBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/**
 * The wire form of a hash in proofs and checkpoints (DESIGN §4: `hashes: [base64]`).
 *
 * @example
 * const hashes = proof.map(encodeHash);
 */
export function encodeHash(hash: Uint8Array): string {
  return base64Encode(hash);
}

/**
 * Parses a base64 hash from the wire: strict padded base64 of exactly 32 bytes. Throws
 * `ERR_AUDIT_BAD_PROOF` otherwise.
 *
 * @example
 * const proof = body.hashes.map(decodeHash);
 */
export function decodeHash(text: string): Uint8Array {
  const bytes = base64Decode(text);
  if (bytes === null || bytes.length !== HASH_SIZE) {
    throw new AuditVerificationError("ERR_AUDIT_BAD_PROOF", "a proof hash is not base64 of 32 bytes");
  }
  return bytes;
}
