/**
 * `@deputy/sdk/mcp`: makes an MCP server built on the official `@modelcontextprotocol/sdk`
 * (Streamable HTTP transport) a Deputy-protected resource:
 * - RFC 9728 protected resource metadata at `/.well-known/oauth-protected-resource` (with the
 *   resource's path appended, §3.1): `resource`, `authorization_servers`, `scopes_supported`,
 *   `dpop_bound_access_tokens_required`;
 * - every refusal carries `WWW-Authenticate: DPoP error=…, scope=…, resource_metadata=…`
 *   (RFC 9728 §5.1, RFC 6750 §3, RFC 9449 §7.1), which is how MCP clients discover Deputy;
 * - verified callers reach each tool handler as `extra.authInfo` (the MCP SDK's `AuthInfo`),
 *   and {@link deputyCallerOf} turns that into `{ principal, agent, chain, scope, … }`.
 *
 * Web standards only (`Request`/`Response`); {@link DeputyMcp.authenticateNode} serves the
 * node:http transport.
 *
 * @example
 * const mcp = deputyMcp({ verifier, resource: "https://tools.example.com/mcp", scopesSupported: ["tickets:read"] });
 * // node:http:  if (req.url === mcp.metadataPath) return mcp.sendMetadata(res);
 * //             const auth = await mcp.authenticateNode(req, res); if (!auth) return;
 * //             await transport.handleRequest(req, res);   // the tool sees extra.authInfo
 * server.registerTool("whoami", {}, async (_args, extra) => {
 *   const who = deputyCallerOf(extra);
 *   return { content: [{ type: "text", text: `${who.agent} for ${who.principal}` }] };
 * });
 */
import { challengeFor } from "./verifier/challenge.js";
import { VerificationError } from "./verifier/errors.js";
import { ALLOWED_ALGS } from "./verifier/jws.js";
import type { VerifiedCaller, Verifier } from "./verifier/verifier.js";

/** The MCP SDK's `AuthInfo` (structurally: the SDK stays a peer of ours). */
export interface McpAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: URL;
  extra?: Record<string, unknown>;
}

/** RFC 9728 §2 protected resource metadata. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  dpop_signing_alg_values_supported: string[];
  dpop_bound_access_tokens_required: boolean;
  resource_name?: string;
  [member: string]: unknown;
}

export interface DeputyMcpOptions {
  verifier: Verifier;
  /** The MCP endpoint's canonical URL; also its Deputy audience (RFC 8707, RFC 9728 §2 `resource`). */
  resource: string;
  /** Scopes the server's tools use (published in the metadata). */
  scopesSupported?: string[];
  /** Scope every MCP request needs (tools can demand more with `requireScope`). */
  requiredScope?: string;
  resourceName?: string;
}

type HeaderBag = Record<string, string | string[] | undefined>;
/** The parts of node:http's request and response used here (structural; no Node types needed). */
interface NodeLikeRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: HeaderBag;
  auth?: McpAuthInfo | undefined;
}
interface NodeLikeResponse {
  writeHead(status: number, headers: Record<string, string>): { end(body: string): unknown };
}

export interface DeputyMcp {
  /** Where the metadata is served: `/.well-known/oauth-protected-resource` + the resource's path. */
  readonly metadataPath: string;
  /** Its absolute URL (named in every challenge). */
  readonly metadataUrl: string;
  readonly metadata: ProtectedResourceMetadata;
  /** The metadata as a `Response`. */
  metadataResponse(): Response;
  /** Writes the metadata to a node:http response. */
  sendMetadata(res: NodeLikeResponse): void;
  /** Verifies a web-standard request: the MCP `AuthInfo`, or the refusal to send. */
  authenticate(
    request: Request,
  ): Promise<{ authInfo: McpAuthInfo; response?: undefined } | { response: Response; authInfo?: undefined }>;
  /**
   * Verifies a node:http request for `StreamableHTTPServerTransport`: sets `req.auth` and
   * resolves to it, or answers the refusal and resolves to undefined.
   */
  authenticateNode(req: NodeLikeRequest, res: NodeLikeResponse): Promise<McpAuthInfo | undefined>;
}

/**
 * RFC 9728 §3.1: the well-known path, with the resource's path (if any) appended.
 *
 * @example
 * protectedResourceMetadataPath("https://tools.example.com/mcp"); // "/.well-known/oauth-protected-resource/mcp"
 */
export function protectedResourceMetadataPath(resource: string): string {
  const path = new URL(resource).pathname.replace(/\/+$/, "");
  return `/.well-known/oauth-protected-resource${path}`;
}

function authInfoOf(caller: VerifiedCaller, token: string, resource: string): McpAuthInfo {
  return {
    token,
    clientId: caller.agent,
    scopes: caller.scope,
    expiresAt: caller.claims.exp,
    resource: new URL(resource),
    extra: { deputy: caller },
  };
}

function tokenOf(authorization: string | undefined): string {
  return (authorization ?? "").replace(/^\S+\s+/, "").trim();
}

/**
 * Builds the helper; see the module doc.
 *
 * @example
 * const mcp = deputyMcp({ verifier, resource: "http://127.0.0.1:3000/mcp", scopesSupported: ["tickets:read"] });
 */
export function deputyMcp(options: DeputyMcpOptions): DeputyMcp {
  const resource = options.resource;
  const metadataPath = protectedResourceMetadataPath(resource);
  const metadataUrl = new URL(metadataPath, resource).href;
  const metadata: ProtectedResourceMetadata = {
    resource,
    authorization_servers: [options.verifier.issuer],
    ...(options.scopesSupported !== undefined ? { scopes_supported: options.scopesSupported } : {}),
    bearer_methods_supported: ["header"],
    dpop_signing_alg_values_supported: [...ALLOWED_ALGS],
    dpop_bound_access_tokens_required: true,
    ...(options.resourceName !== undefined ? { resource_name: options.resourceName } : {}),
  };
  const challenge = (e: unknown) =>
    challengeFor(e, {
      resourceMetadata: metadataUrl,
      ...(options.requiredScope !== undefined ? { scope: options.requiredScope } : {}),
    });
  const verify = (method: string, url: string, headers: Headers | HeaderBag) =>
    options.verifier.verify(
      { method, url, headers },
      options.requiredScope !== undefined ? { requiredScope: options.requiredScope } : {},
    );
  // DPoP's htu is the URL the client addressed: the resource's origin plus the request path.
  // Always the resource's origin: a path such as "//evil.example/x" or an absolute-form request
  // target ("GET https://evil.example/x") must not choose the host the proof is checked against.
  const origin = new URL(resource).origin;
  const absolute = (target: string) => {
    if (target.startsWith("/")) return new URL(origin + target).href;
    try {
      const u = new URL(target);
      return new URL(origin + u.pathname + u.search).href;
    } catch {
      return new URL(`${origin}/`).href;
    }
  };
  return {
    metadataPath,
    metadataUrl,
    metadata,
    metadataResponse: () =>
      Response.json(metadata, {
        headers: { "cache-control": "public, max-age=300", "access-control-allow-origin": "*" },
      }),
    sendMetadata(res) {
      res
        .writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=300" })
        .end(JSON.stringify(metadata));
    },
    async authenticate(request) {
      try {
        const u = new URL(request.url);
        const caller = await verify(request.method, absolute(u.pathname + u.search), request.headers);
        return {
          authInfo: authInfoOf(caller, tokenOf(request.headers.get("authorization") ?? undefined), resource),
        };
      } catch (e) {
        const c = challenge(e);
        return { response: Response.json(c.body, { status: c.status, headers: c.headers }) };
      }
    },
    async authenticateNode(req, res) {
      try {
        const caller = await verify(req.method ?? "GET", absolute(req.url ?? "/"), req.headers);
        const auth = req.headers.authorization;
        const info = authInfoOf(caller, tokenOf(Array.isArray(auth) ? auth[0] : auth), resource);
        req.auth = info;
        return info;
      } catch (e) {
        const c = challenge(e);
        res.writeHead(c.status, c.headers).end(JSON.stringify(c.body));
        return undefined;
      }
    },
  };
}

/**
 * The verified Deputy caller of an MCP request, from a tool handler's `extra`. Throws
 * `ERR_TOKEN_MISSING` when the request did not pass through {@link deputyMcp}.
 *
 * @example
 * server.registerTool("whoami", {}, async (_args, extra) => {
 *   const { agent, principal, chain } = deputyCallerOf(extra);
 *   return { content: [{ type: "text", text: `${agent} (via ${chain.join(" ← ")}) for ${principal}` }] };
 * });
 */
export function deputyCallerOf(extra: {
  authInfo?: { extra?: Record<string, unknown> } | undefined;
}): VerifiedCaller {
  const caller = extra.authInfo?.extra?.deputy as VerifiedCaller | undefined;
  if (caller === undefined)
    throw new VerificationError("ERR_TOKEN_MISSING", "this MCP request was not authenticated by Deputy");
  return caller;
}

export { requireScope } from "./verifier/verifier.js";
