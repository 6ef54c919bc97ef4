/**
 * Strict base64url (RFC 4648 §5, no padding) for JOSE segments.
 *
 * `Buffer.from(s, "base64url")` silently skips bad characters and ignores non-zero trailing bits,
 * so two different strings can decode to the same bytes. JOSE compares and caches tokens as
 * strings, so only the canonical encoding is accepted here (RFC 4648 §3.5).
 *
 * @example
 * decodeBase64url("AQID"); // <Buffer 01 02 03>
 * decodeBase64url("AQI="); // undefined (padding is not base64url in JOSE, RFC 7515 §2)
 */

const CHARSET_RE = /^[A-Za-z0-9_-]*$/;

/** The 6-bit value of a base64url character code (the caller has checked the charset). */
function sextet(code: number): number {
  if (code >= 97) return code - 71; // a-z → 26..51
  if (code >= 65) return code - 65; // A-Z → 0..25
  if (code >= 48) return code + 4; // 0-9 → 52..61
  return code === 45 ? 62 : 63; // "-" → 62, "_" → 63
}

/**
 * True when `s` is canonical unpadded base64url: only `A-Z a-z 0-9 - _`, a length that is not
 * 1 mod 4, and zero unused bits in the last character (RFC 4648 §3.5).
 *
 * @example
 * isCanonicalBase64url("AQ"); // true
 * isCanonicalBase64url("AR"); // false: trailing bits set
 */
export function isCanonicalBase64url(s: string): boolean {
  if (!CHARSET_RE.test(s)) return false;
  return hasCanonicalTail(s);
}

/**
 * The length and trailing-bit part of {@link isCanonicalBase64url}, for input whose charset the
 * caller has already checked (e.g. with one regex over a whole compact JWS).
 *
 * @example
 * hasCanonicalTail("AQ"); // true
 */
export function hasCanonicalTail(s: string): boolean {
  const rem = s.length & 3;
  if (rem === 0) return true;
  if (rem === 1) return false;
  const last = sextet(s.charCodeAt(s.length - 1));
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * Decodes canonical unpadded base64url, or returns `undefined` for anything else.
 *
 * @example
 * decodeBase64url("_w"); // <Buffer ff>
 */
export function decodeBase64url(s: string): Buffer | undefined {
  return isCanonicalBase64url(s) ? Buffer.from(s, "base64url") : undefined;
}

/**
 * Encodes bytes (or a UTF-8 string) as unpadded base64url.
 *
 * @example
 * encodeBase64url(Buffer.from([0xff])); // "_w"
 */
export function encodeBase64url(data: Uint8Array | string): string {
  return (
    typeof data === "string"
      ? Buffer.from(data, "utf8")
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  ).toString("base64url");
}
