/**
 * `@deputy/sdk/middleware/node`: Deputy authentication for a plain `node:http` server. It answers
 * refusals itself (401 with `WWW-Authenticate: DPoP error="invalid_token"…`, 403
 * `insufficient_scope`, 503 when revocation state is stale) and attaches the caller as
 * `req.deputy`.
 *
 * @example
 * const auth = deputyNodeAuth({ verifier, requiredScope: "tickets:read" });
 * http.createServer(async (req, res) => {
 *   const who = await auth(req, res);
 *   if (!who) return; // already answered
 *   res.end(`hello ${who.agent} acting for ${who.principal}`);
 * });
 */
/// <reference types="node" />
import type { IncomingMessage, ServerResponse } from "node:http";
import { challengeFor } from "../verifier/challenge.js";
import type { VerifiedCaller } from "../verifier/verifier.js";
import {
  challengeOptions,
  type DeputyCaller,
  type DeputyMiddlewareOptions,
  requestUrl,
  scopeFor,
  verifyWith,
} from "./common.js";

export type { DeputyCaller, DeputyMiddlewareOptions } from "./common.js";

declare module "node:http" {
  interface IncomingMessage {
    /** Set by Deputy's middleware once the request is verified. */
    deputy?: DeputyCaller;
  }
}

/**
 * Writes a refusal (any error thrown by the verifier) as the HTTP answer.
 *
 * @example
 * try { await verifier.verify(r); } catch (e) { return sendRefusal(res, e, { verifier }); }
 */
export function sendRefusal(
  res: ServerResponse,
  error: unknown,
  options: DeputyMiddlewareOptions,
  scope?: string | readonly string[],
): void {
  const c = challengeFor(error, challengeOptions(options, scope));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(c.status, c.headers).end(JSON.stringify(c.body));
}

/**
 * Builds the authenticator: resolves to the caller, or to undefined after answering a refusal.
 *
 * @example
 * const who = await deputyNodeAuth({ verifier })(req, res);
 */
export function deputyNodeAuth(options: DeputyMiddlewareOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<VerifiedCaller | undefined> => {
    const path = req.url ?? "/";
    const method = req.method ?? "GET";
    const scope = scopeFor(options, method, path.split("?")[0] ?? "/");
    try {
      const url = requestUrl(
        options,
        path,
        req.headers,
        Boolean((req.socket as { encrypted?: boolean }).encrypted),
      );
      const who = await verifyWith(options, { method, url, headers: req.headers }, scope);
      req.deputy = who;
      return who;
    } catch (e) {
      sendRefusal(res, e, options, scope);
      return undefined;
    }
  };
}
