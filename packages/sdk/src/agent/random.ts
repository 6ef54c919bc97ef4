/**
 * Random identifiers for `jti`s (128 bits, base64url), from Web Crypto.
 *
 * @example
 * const jti = randomId(); // "q3Jb0y…" (22 characters)
 */
import { base64url } from "jose";

export function randomId(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
}
