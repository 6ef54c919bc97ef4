/**
 * Which headers cross the gateway. RFC 9110 §7.6.1: hop-by-hop fields (and every field named in
 * `Connection`) are consumed here, never forwarded. Deputy's own credentials (`Authorization`,
 * `DPoP`, `Deputy-Approval`) and cookies meant for Deputy's origin never reach the upstream, and
 * client-supplied `Host`, `Forwarded` and `X-Forwarded-*` are dropped so an agent cannot make the
 * upstream believe it was reached under another name or from another address.
 *
 * @example
 * const out = requestHeadersFor(req.rawHeaders, { authType: "bearer", authName: null });
 */

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

const NEVER_FORWARDED = new Set([
  "authorization",
  "dpop",
  "deputy-approval",
  "cookie",
  "host",
  "forwarded",
  "x-real-ip",
  // The gateway answers `Expect: 100-continue` itself (node:http does); forwarding it would make
  // the upstream wait for a second interim response.
  "expect",
  // Framing is the gateway's own (forward.ts re-frames every body), so an agent's
  // `Content-Length` is never copied, whatever `Connection` lists.
  "content-length",
  // Method and URL overrides honoured by many frameworks (Laravel, Symfony, Express
  // method-override, IIS): they would let an allowed `POST /x` act as a `DELETE` or another path
  // upstream, past the rules and approvals that judged the request line.
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-original-url",
  "x-rewrite-url",
]);

const NEVER_RETURNED = new Set(["set-cookie", "set-cookie2"]);

/** Field names listed in `Connection` (RFC 9110 §7.6.1), lower-cased. */
function connectionListed(raw: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== "connection") continue;
    for (const t of raw[i + 1]!.split(",")) {
      const name = t.trim().toLowerCase();
      if (name) out.add(name);
    }
  }
  return out;
}

/**
 * Headers to send upstream (before the credential is added), as a flat name/value list, starting
 * with `Host: opts.host` when given.
 */
export function requestHeadersFor(
  raw: readonly string[],
  opts: { strip?: string | null; host?: string },
): string[] {
  const listed = connectionListed(raw);
  const strip = opts.strip?.toLowerCase();
  const out: string[] = opts.host === undefined ? [] : ["Host", opts.host];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || NEVER_FORWARDED.has(lower) || listed.has(lower)) continue;
    if (lower.startsWith("x-forwarded-") || lower === strip) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

/**
 * Upstream response headers to pass back to the agent, as a flat name/value list. A header whose
 * value contains one of `redact` (lower-case forms of the injected credential) is dropped: an
 * upstream that reflects the request (a redirect keeping the query, with `query` auth) would
 * otherwise hand the agent the very secret the gateway exists to keep from it.
 */
export function responseHeadersFor(
  raw: readonly string[],
  opts: { redact?: readonly string[] } = {},
): string[] {
  const listed = connectionListed(raw);
  const redact = opts.redact ?? [];
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || NEVER_RETURNED.has(lower) || listed.has(lower)) continue;
    const value = raw[i + 1]!;
    if (redact.length > 0) {
      const v = value.toLowerCase();
      if (redact.some((r) => v.includes(r))) continue;
    }
    out.push(name, value);
  }
  return out;
}

/** Total bytes of the request's header block as received (names, values, ": " and CRLF). */
export function headerBytes(raw: readonly string[]): number {
  let n = 0;
  for (const s of raw) n += s.length + 2;
  return n;
}
