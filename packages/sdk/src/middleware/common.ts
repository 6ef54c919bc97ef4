/**
 * What every middleware shares: options, the request URL a DPoP proof must name, and the one
 * way a refusal is answered ({@link challengeFor}), so node:http, Express, Fastify and Hono agree.
 *
 * @example
 * const url = requestUrl({ baseUrl: "https://api.example.com" }, "/tickets?x=1", headers, false);
 */
import type { ChallengeOptions } from "../verifier/challenge.js";
import type { VerifiedCaller, Verifier } from "../verifier/verifier.js";

/** The caller as middleware attaches it to a request. */
export type DeputyCaller = Pick<
  VerifiedCaller,
  "principal" | "agent" | "chain" | "scope" | "tokenId" | "grantId"
> &
  VerifiedCaller;

export interface DeputyMiddlewareOptions {
  verifier: Verifier;
  /** Scopes every request needs (space-separated or a list), or a function of the request's method and path. */
  requiredScope?:
    | string
    | readonly string[]
    | ((method: string, path: string) => string | readonly string[] | undefined);
  /**
   * The public origin clients use (e.g. `https://api.example.com`), for the DPoP `htu` check.
   * Default: from the `Host` header (and `X-Forwarded-Proto`/`-Host` when `trustProxy`).
   */
  baseUrl?: string;
  /** Believe `X-Forwarded-Proto` and `X-Forwarded-Host`. Default false. */
  trustProxy?: boolean;
  /** RFC 9728 §5.1: the protected resource metadata URL, named in every challenge. */
  resourceMetadata?: string;
  realm?: string;
}

type HeaderValue = string | string[] | undefined;

function first(v: HeaderValue): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The absolute URL of a request as the client addressed it.
 *
 * @example
 * requestUrl({}, "/tickets", { host: "api.example.com" }, true); // "https://api.example.com/tickets"
 */
export function requestUrl(
  options: Pick<DeputyMiddlewareOptions, "baseUrl" | "trustProxy">,
  pathAndQuery: string,
  headers: Record<string, HeaderValue>,
  encrypted: boolean,
): string {
  if (options.baseUrl !== undefined) return onOrigin(new URL(options.baseUrl).origin, pathAndQuery);
  const proto =
    (options.trustProxy ? first(headers["x-forwarded-proto"])?.split(",")[0]?.trim() : undefined) ??
    (encrypted ? "https" : "http");
  const host =
    (options.trustProxy ? first(headers["x-forwarded-host"]) : undefined) ??
    first(headers.host) ??
    "localhost";
  return onOrigin(new URL(`${proto}://${host}`).origin, pathAndQuery);
}

/**
 * The request target on `origin`: a path such as "//evil.example/x" or an absolute-form target
 * ("GET https://evil.example/x") must not choose the host DPoP's htu is compared with.
 */
function onOrigin(origin: string, target: string): string {
  if (target.startsWith("/")) return new URL(origin + target).href;
  try {
    const u = new URL(target);
    return new URL(origin + u.pathname + u.search).href;
  } catch {
    return new URL(`${origin}/`).href;
  }
}

/**
 * The scope a request needs under these options.
 *
 * @example
 * scopeFor({ verifier, requiredScope: "tickets:read" }, "GET", "/tickets"); // "tickets:read"
 */
export function scopeFor(
  options: DeputyMiddlewareOptions,
  method: string,
  path: string,
): string | readonly string[] | undefined {
  const s = options.requiredScope;
  return typeof s === "function" ? s(method, path) : s;
}

/** The options {@link challengeFor} needs. */
export function challengeOptions(
  options: DeputyMiddlewareOptions,
  scope: string | readonly string[] | undefined,
): ChallengeOptions {
  const out: ChallengeOptions = {};
  if (options.resourceMetadata !== undefined) out.resourceMetadata = options.resourceMetadata;
  if (options.realm !== undefined) out.realm = options.realm;
  if (scope !== undefined) out.scope = typeof scope === "string" ? scope : scope.join(" ");
  return out;
}

/**
 * Verifies a request under the middleware options.
 *
 * @example
 * const who = await verifyWith(options, { method, url, headers });
 */
export function verifyWith(
  options: DeputyMiddlewareOptions,
  request: { method: string; url: string; headers: Headers | Record<string, HeaderValue> },
  scope: string | readonly string[] | undefined,
): Promise<VerifiedCaller> {
  return options.verifier.verify(request, scope === undefined ? {} : { requiredScope: scope });
}
