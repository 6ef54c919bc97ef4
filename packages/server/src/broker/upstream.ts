/**
 * Validating a connection's upstream base URL: `https://` (WHATWG URL), no credentials, query or
 * fragment; `http://` only for loopback hosts and only when `brokerAllowHttpLoopback` is on.
 *
 * @example
 * const base = validateUpstream("https://api.github.com", { allowHttpLoopback: false });
 * // "https://api.github.com"
 */
import { DeputyError } from "@deputy/protocol";

const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** Returns the normalised base URL (no trailing slash). */
export function validateUpstream(raw: string, opts: { allowHttpLoopback: boolean }): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DeputyError("ERR_INVALID_UPSTREAM", "upstream must be an absolute https:// URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw new DeputyError("ERR_INVALID_UPSTREAM", "upstream must not carry credentials; use auth.secret");
  }
  if (url.search !== "" || url.hash !== "" || raw.includes("?") || raw.includes("#")) {
    throw new DeputyError("ERR_INVALID_UPSTREAM", "upstream must not have a query or fragment");
  }
  if (url.protocol === "http:") {
    if (!LOOPBACK.has(url.hostname)) {
      throw new DeputyError(
        "ERR_INVALID_UPSTREAM",
        "upstream must use https:// (http:// only on loopback in development)",
      );
    }
    if (!opts.allowHttpLoopback) {
      throw new DeputyError(
        "ERR_INVALID_UPSTREAM",
        "http:// upstreams on loopback need DEPUTY_BROKER_ALLOW_HTTP_LOOPBACK=true (development only)",
      );
    }
  } else if (url.protocol !== "https:") {
    throw new DeputyError("ERR_INVALID_UPSTREAM", "upstream must use https://");
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}
