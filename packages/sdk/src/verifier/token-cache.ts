/**
 * Tokens already verified, keyed by the exact token string (any change, signature included,
 * misses), so a token seen before skips parsing and the signature (the warm path). Bounded;
 * the oldest entry goes first. Entries signed by a key that left the JWKS are dropped.
 *
 * @example
 * const hit = cache.get(token);
 * if (!hit) cache.set(token, claims, kid);
 */
import type { AccessTokenClaims } from "./access-token.js";

interface Entry {
  claims: AccessTokenClaims;
  kid: string;
}

/** Freezes in place (JSON values only: plain objects and arrays), without allocating. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    const o = value as Record<string, unknown>;
    for (const k in o) {
      const v = o[k];
      if (typeof v === "object" && v !== null) deepFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}

export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;

  constructor(maxEntries = 10_000) {
    this.#max = Math.max(0, maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(token: string): AccessTokenClaims | undefined {
    return this.#entries.get(token)?.claims;
  }

  /**
   * Only ever pass claims that passed every check of `verifyAccessToken`. Freezes them (deeply,
   * in place) even when the cache keeps nothing, so callers always get immutable claims.
   */
  set(token: string, claims: AccessTokenClaims, kid: string): void {
    deepFreeze(claims);
    if (this.#max === 0) return;
    if (this.#entries.size >= this.#max && !this.#entries.has(token)) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, { claims, kid });
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }

  /** Drops every token signed by one of `kids` (the issuer withdrew those keys). */
  dropKids(kids: readonly string[]): void {
    const gone = new Set(kids);
    for (const [token, e] of this.#entries) if (gone.has(e.kid)) this.#entries.delete(token);
  }
}
