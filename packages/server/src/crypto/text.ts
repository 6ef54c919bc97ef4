/**
 * Text a database can store as-is: no U+0000 (PostgreSQL `text` cannot hold it) and no unpaired
 * UTF-16 surrogate (it has no UTF-8 form; PostgreSQL's JSON parser refuses its escape). Checked on
 * strings taken from inside JWTs (`jti`, `iss`), which the request-level NUL check cannot see
 * through their base64url.
 *
 * @example
 * if (!isStorableText(jti)) throw fail("jti contains U+0000 or an unpaired surrogate");
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isStorableText(s: string): boolean {
  // Both native scans; the regular expression's lookbehind cost ten times as much on a 450-character
  // audit entry. `isWellFormed` (ES2024, Node.js 20) is false for any unpaired surrogate.
  return (s as WellFormedString).isWellFormed() && !s.includes("\u0000");
}

/** `String.prototype.isWellFormed` (ES2024), which the ES2023 lib this package builds with lacks. */
type WellFormedString = string & { isWellFormed(): boolean };

/**
 * `s` with U+0000 and unpaired surrogates replaced by U+FFFD: for index columns that only help
 * queries (the exact bytes of an audit entry are kept elsewhere, escaped).
 *
 * @example
 * storableText("a\u0000b"); // "a\uFFFDb"
 */
export function storableText(s: string): string {
  return isStorableText(s) ? s : s.replace(new RegExp(UNSTORABLE.source, "g"), "\uFFFD");
}
