/**
 * Form parameters of OAuth requests (`application/x-www-form-urlencoded`). RFC 6749 §3.2:
 * parameters MUST NOT be included more than once, except `resource` (RFC 8707 §2), which may
 * repeat.
 *
 * @example
 * const form = parseTokenForm("grant_type=client_credentials&scope=read");
 * form.get("scope"); // "read"
 */
import { DeputyError } from "@deputy/protocol";

const REPEATABLE = new Set(["resource"]);
export const MAX_FORM_PARAMS = 32;

export class TokenForm {
  constructor(private readonly params: URLSearchParams) {}
  get(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }
  getAll(name: string): string[] {
    return this.params.getAll(name);
  }
}

export function parseTokenForm(body: string): TokenForm {
  const params = new URLSearchParams(body);
  const seen = new Set<string>();
  let count = 0;
  for (const [key] of params) {
    if (++count > MAX_FORM_PARAMS) throw new DeputyError("ERR_INVALID_REQUEST", "too many form parameters");
    if (seen.has(key) && !REPEATABLE.has(key)) {
      throw new DeputyError("ERR_INVALID_REQUEST", `parameter ${key} is repeated (RFC 6749 §3.2)`);
    }
    seen.add(key);
  }
  return new TokenForm(params);
}
