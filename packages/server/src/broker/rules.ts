/**
 * Connection rules: which scope allows which methods on which paths. A path glob is matched
 * against the normalised, decoded request path: `*` matches within one segment (no `/`), `**`
 * matches any run of characters including `/`; everything else is literal.
 *
 * @example
 * const m = matchRules(rules, ["issues:read"], "GET", "/repos/acme/app/issues");
 * if (m === null) deny(); else if (m.approval) hold(); else forward();
 */
import type { ConnectionRule } from "../store/index.js";

const cache = new Map<string, RegExp>();

/** Compiles a glob once; the result is anchored at both ends. */
export function globToRegExp(glob: string): RegExp {
  const hit = cache.get(glob);
  if (hit) return hit;
  let re = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        re += ".*";
        i++;
      } else re += "[^/]*";
    } else re += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  const compiled = new RegExp(`${re}$`, "s");
  if (cache.size < 10_000) cache.set(glob, compiled);
  return compiled;
}

/**
 * The outcome for a call: `null` when no rule of the token's scopes allows it; otherwise whether
 * it needs an approval (only when every matching rule requires one: a rule without `approval`
 * allows the call outright) and the scope that allowed it.
 */
export function matchRules(
  rules: readonly ConnectionRule[],
  scopes: readonly string[],
  method: string,
  path: string,
): { approval: boolean; scope: string } | null {
  let held: { approval: boolean; scope: string } | null = null;
  for (const rule of rules) {
    if (!scopes.includes(rule.scope)) continue;
    if (!rule.methods.includes(method) && !rule.methods.includes("*")) continue;
    if (!rule.paths.some((g) => globToRegExp(g).test(path))) continue;
    if (rule.approval !== "required") return { approval: false, scope: rule.scope };
    held ??= { approval: true, scope: rule.scope };
  }
  return held;
}

/**
 * The rules that would allow `method` on `path` whatever the token's scopes, each with its first
 * matching glob: what a refused caller needs to ask for (the refusal's detail names them).
 *
 * @example
 * allowingRules(rules, "DELETE", "/repos/acme/app/issues/7");
 * // [{ scope: "issues:write", method: "DELETE", glob: "/repos/*\/*\/issues/*", approval: true }]
 */
export function allowingRules(
  rules: readonly ConnectionRule[],
  method: string,
  path: string,
): Array<{ scope: string; method: string; glob: string; approval: boolean }> {
  const out: Array<{ scope: string; method: string; glob: string; approval: boolean }> = [];
  for (const rule of rules) {
    if (!rule.methods.includes(method) && !rule.methods.includes("*")) continue;
    const glob = rule.paths.find((g) => globToRegExp(g).test(path));
    if (glob === undefined) continue;
    out.push({
      scope: rule.scope,
      method: rule.methods.includes(method) ? method : "*",
      glob,
      approval: rule.approval === "required",
    });
  }
  return out;
}
