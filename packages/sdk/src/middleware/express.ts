/**
 * `@deputy/sdk/middleware/express`: Deputy authentication for Express 4/5. Verified requests get
 * `req.deputy = { principal, agent, chain, scope, tokenId, grantId, … }`; refusals are answered
 * with 401/403/503 and the RFC 6750 / RFC 9449 challenge.
 *
 * @example
 * app.use("/tickets", deputyExpress({ verifier, requiredScope: "tickets:read" }));
 * app.get("/tickets", (req, res) => res.json({ agent: req.deputy!.agent }));
 */
/// <reference types="node" />
import type { IncomingMessage, ServerResponse } from "node:http";
import { challengeFor } from "../verifier/challenge.js";
import {
  challengeOptions,
  type DeputyMiddlewareOptions,
  requestUrl,
  scopeFor,
  verifyWith,
} from "./common.js";
import "./node.js";

export type { DeputyCaller, DeputyMiddlewareOptions } from "./common.js";

type ExpressLikeRequest = IncomingMessage & { originalUrl?: string };
type ExpressLikeResponse = ServerResponse & {
  status(code: number): ExpressLikeResponse;
  set(h: Record<string, string>): ExpressLikeResponse;
  json(body: unknown): unknown;
};

/**
 * Express middleware; see the module doc.
 *
 * @example
 * app.post("/tickets", deputyExpress({ verifier, requiredScope: "tickets:write" }), handler);
 */
export function deputyExpress(options: DeputyMiddlewareOptions) {
  return (req: ExpressLikeRequest, res: ExpressLikeResponse, next: (err?: unknown) => void): void => {
    // Express rewrites req.url under a mount path; originalUrl is what the client sent.
    const path = req.originalUrl ?? req.url ?? "/";
    const method = req.method ?? "GET";
    const scope = scopeFor(options, method, path.split("?")[0] ?? "/");
    let url: string;
    try {
      url = requestUrl(
        options,
        path,
        req.headers,
        Boolean((req.socket as { encrypted?: boolean }).encrypted),
      );
    } catch (e) {
      next(e);
      return;
    }
    verifyWith(options, { method, url, headers: req.headers }, scope).then(
      (who) => {
        req.deputy = who;
        next();
      },
      (e: unknown) => {
        const c = challengeFor(e, challengeOptions(options, scope));
        res.status(c.status).set(c.headers).json(c.body);
      },
    );
  };
}
