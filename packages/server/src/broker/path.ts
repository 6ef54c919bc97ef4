/**
 * The gateway's request-target check (RFC 3986 §3.3, §6.2.2). Deputy matches rules against the
 * path decoded exactly once and forwards the original bytes, so the two must mean the same
 * thing to every server behind it. Anything whose meaning could change with another round of
 * decoding or dot-segment removal is refused, never "normalised" into some other rule's glob:
 * encoded `/` or `\`, a literal `\`, `.` and `..` segments (plain or percent-encoded, also with
 * `;` parameters such as `..;x`), `%25`
 * (double encoding), NUL and other control characters, malformed escapes, empty segments.
 *
 * @example
 * const target = parseProxyTarget("/proxy/github/repos/acme/app/issues?state=open");
 * // { connection: "github", rawPath: "/repos/acme/app/issues", path: "/repos/acme/app/issues", query: "state=open" }
 */
import { DeputyError } from "@deputy/protocol";

export const PROXY_PREFIX = "/proxy/";
const CONNECTION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface ProxyTarget {
  connection: string;
  /** The path after the connection name as received (still percent-encoded), always starting with `/`. */
  rawPath: string;
  /** The same path decoded once: what rules are matched against. */
  path: string;
  /** The raw query string without `?` ("" when none). */
  query: string;
}

function bad(message: string): DeputyError {
  return new DeputyError("ERR_PROXY_PATH_INVALID", message);
}

/** Parses `/proxy/{connection}/{path}?{query}`; throws ERR_PROXY_PATH_INVALID or ERR_CONNECTION_NOT_FOUND. */
export function parseProxyTarget(url: string): ProxyTarget {
  if (!url.startsWith(PROXY_PREFIX)) throw bad("not a /proxy URL");
  if (url.includes("#")) throw bad("a request target has no fragment (RFC 9112 §3.2); remove the '#…' part");
  const q = url.indexOf("?");
  const pathPart = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? "" : url.slice(q + 1);
  const rest = pathPart.slice(PROXY_PREFIX.length);
  const slash = rest.indexOf("/");
  const connection = slash < 0 ? rest : rest.slice(0, slash);
  if (!CONNECTION_NAME.test(connection)) {
    throw new DeputyError(
      "ERR_CONNECTION_NOT_FOUND",
      "no connection by that name: names are lower-case letters, digits and '-'; check the segment after /proxy/",
    );
  }
  const rawPath = slash < 0 ? "/" : rest.slice(slash);
  return { connection, rawPath, path: decodePath(rawPath), query: checkQuery(query) };
}

/** Decodes once, refusing anything ambiguous (see the module comment). */
export function decodePath(raw: string): string {
  // RFC 3986 §2.1: after "%" come exactly two hex digits.
  if (/%(?![0-9a-fA-F]{2})/.test(raw))
    throw bad(
      "malformed percent-encoding in the path; '%' must start an escape of two hex digits (RFC 3986 §2.1)",
    );
  if (/%2f|%5c/i.test(raw))
    throw bad(
      "encoded '/' or '\\' in the path; send '/' unencoded between segments (a segment cannot hold '/' or '\\')",
    );
  if (/%25/i.test(raw))
    throw bad("double percent-encoding ('%25') in the path; percent-encode the path once");
  if (/%00/i.test(raw)) throw bad("NUL in the path; remove it");
  if (raw.includes("\\")) throw bad("'\\' in the path; separate segments with '/'");
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw bad("the path is not valid percent-encoded UTF-8; percent-encode its UTF-8 bytes");
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(path)) throw bad("control characters in the path; remove them");
  const segments = path.split("/").slice(1);
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    // A segment's path parameters (`..;x`) are dropped by Tomcat, Jetty and Spring before they
    // resolve dot-segments, so `..;` means `..` to them: judge the segment without them.
    const bare = s.split(";", 1)[0];
    if (bare === "." || bare === "..") {
      throw bad(
        "'.' and '..' segments are not allowed, also with ';' parameters; resolve them before sending the path (RFC 3986 §5.2.4)",
      );
    }
    if (s === "" && i < segments.length - 1)
      throw bad("empty path segments ('//') are not allowed; remove them");
  }
  return path;
}

function checkQuery(query: string): string {
  if (/%(?![0-9a-fA-F]{2})/.test(query))
    throw bad(
      "malformed percent-encoding in the query; '%' must start an escape of two hex digits (RFC 3986 §2.1)",
    );
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u0020\u007f]/.test(query))
    throw bad("control characters or spaces in the query; percent-encode them");
  return query;
}
