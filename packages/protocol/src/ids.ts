/**
 * Identifiers: a type prefix plus 128 bits of randomness in lowercase RFC 4648 base32 (26 chars).
 *
 * @example
 * const id = newId("agt"); // "agt_4b2k…"
 * isId("agt", id); // true
 */

export const ID_PREFIXES = [
  "prn",
  "agt",
  "grt",
  "tok",
  "res",
  "con",
  "apv",
  "enr",
  "ptk",
  "key",
  "pvi",
] as const;
export type IdPrefix = (typeof ID_PREFIXES)[number];

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** Lowercase base32 without padding (RFC 4648 §6 alphabet, lowercased). */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${base32(crypto.getRandomValues(new Uint8Array(16)))}`;
}

const ID_RE = /^(prn|agt|grt|tok|res|con|apv|enr|ptk|key|pvi)_[a-z2-7]{26}$/;

export function isId(prefix: IdPrefix, value: unknown): value is string {
  return typeof value === "string" && ID_RE.test(value) && value.startsWith(`${prefix}_`);
}

/** The prefix of a well-formed id, or null. */
export function idPrefix(value: string): IdPrefix | null {
  const m = ID_RE.exec(value);
  return m ? (m[1] as IdPrefix) : null;
}
