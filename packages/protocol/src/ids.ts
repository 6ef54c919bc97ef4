/**
 * Identifiers: a type prefix plus 128 bits of randomness in lowercase RFC 4648 base32 (26 chars).
 *
 * Token ids (`tok_`, the access tokens' `jti`) put their creation time first: ten letters `a`–`z`
 * (the epoch milliseconds in base 26, fixed width), then the same 26 random characters. They sort
 * as they were minted, so every store index keyed by them (the token table, the audit log's token
 * index) grows at one end and the entries about live tokens share its last pages, instead of each
 * dirtying a page of its own (the UUIDv7 argument of RFC 9562 §6.2). The 128 random bits that
 * DESIGN §1 asks for are all still there; the time is added, never traded for randomness. Tokens
 * minted before (26 characters) stay valid ids.
 *
 * @example
 * const id = newId("agt"); // "agt_4b2k…"
 * isId("agt", id); // true
 * newTokenId(Date.now()); // "tok_" + ten letters of time + 26 random characters
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

// Random bytes drawn 4 KiB at a time and each handed out once, as node:crypto's randomUUID does:
// one `getRandomValues` call costs about 4 µs whatever its size, and a busy server mints an id per
// token and per audit-logged object.
const pool = new Uint8Array(4096);
let poolUsed = pool.length;

function random128(): Uint8Array {
  if (poolUsed === pool.length) {
    crypto.getRandomValues(pool);
    poolUsed = 0;
  }
  const bytes = pool.slice(poolUsed, poolUsed + 16);
  pool.fill(0, poolUsed, poolUsed + 16);
  poolUsed += 16;
  return bytes;
}

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${base32(random128())}`;
}

const TIME_CHARS = 10;
/** 26^10 ms: ids stay fixed-width (and so sortable) until the year 6443. */
const TIME_LIMIT = 26 ** TIME_CHARS;

/**
 * A token id minted at `nowMs` (epoch milliseconds): `tok_`, the time as ten base-26 letters, most
 * significant first, then 128 random bits. Letters only in the time part, so the ids' byte order
 * is their time order (base32's digits 2–7 would sort before its letters).
 */
export function newTokenId(nowMs: number): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs >= TIME_LIMIT) {
    throw new RangeError(`token id time out of range: ${nowMs}`);
  }
  let time = "";
  for (let n = nowMs, k = 0; k < TIME_CHARS; k++, n = Math.floor(n / 26)) {
    time = String.fromCharCode(97 + (n % 26)) + time;
  }
  return `tok_${time}${base32(random128())}`;
}

// The second form: time-ordered token ids (group 2); tokens minted before them have the first.
const ID_RE = /^(?:(prn|agt|grt|tok|res|con|apv|enr|ptk|key|pvi)_[a-z2-7]{26}|(tok)_[a-z]{10}[a-z2-7]{26})$/;

export function isId(prefix: IdPrefix, value: unknown): value is string {
  return typeof value === "string" && ID_RE.test(value) && value.startsWith(`${prefix}_`);
}

/** The prefix of a well-formed id, or null. */
export function idPrefix(value: string): IdPrefix | null {
  const m = ID_RE.exec(value);
  return m ? ((m[1] ?? m[2]) as IdPrefix) : null;
}
