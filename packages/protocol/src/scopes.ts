/**
 * OAuth scopes (RFC 6749 §3.3): space-delimited, case-sensitive strings of %x21 / %x23-5B / %x5D-7E.
 *
 * @example
 * parseScope("read:repo  deploy"); // ["read:repo", "deploy"]
 */

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function isScopeToken(s: string): boolean {
  return SCOPE_TOKEN.test(s) && s.length <= 128;
}

/** Splits a scope string; returns null when any token is malformed. Duplicates are removed. */
export function parseScope(scope: string): string[] | null {
  const parts = scope.split(" ").filter((p) => p.length > 0);
  for (const p of parts) if (!isScopeToken(p)) return null;
  return [...new Set(parts)];
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(" ");
}

/** Items of `wanted` not present in `held` (empty when wanted ⊆ held). */
export function missing(wanted: readonly string[], held: readonly string[]): string[] {
  const h = new Set(held);
  return wanted.filter((w) => !h.has(w));
}
