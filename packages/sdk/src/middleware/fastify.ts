/**
 * `@deputy/sdk/middleware/fastify`: a Fastify `onRequest`/`preHandler` hook. Verified requests
 * get `request.deputy`; refusals are answered with 401/403/503 and the RFC 6750 / RFC 9449
 * challenge.
 *
 * @example
 * app.addHook("onRequest", deputyFastify({ verifier, requiredScope: "tickets:read" }));
 * app.get("/tickets", async (request) => ({ agent: request.deputy!.agent }));
 */
/// <reference types="node" />
import type { IncomingHttpHeaders } from "node:http";
import { challengeFor } from "../verifier/challenge.js";
import {
  challengeOptions,
  type DeputyCaller,
  type DeputyMiddlewareOptions,
  requestUrl,
  scopeFor,
  verifyWith,
} from "./common.js";

export type { DeputyCaller, DeputyMiddlewareOptions } from "./common.js";

/** The parts of a Fastify request the hook reads (structural, so Fastify stays a peer). */
interface FastifyLikeRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: { socket: unknown };
  deputy?: DeputyCaller;
}
interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  headers(h: Record<string, string>): FastifyLikeReply;
  send(body: unknown): unknown;
}

/**
 * Fastify hook; see the module doc. Register it on the routes (or the encapsulated plugin) to protect.
 *
 * @example
 * app.get("/admin", { onRequest: deputyFastify({ verifier, requiredScope: "admin" }) }, handler);
 */
export function deputyFastify(options: DeputyMiddlewareOptions) {
  return async (request: FastifyLikeRequest, reply: FastifyLikeReply): Promise<unknown> => {
    const scope = scopeFor(options, request.method, request.url.split("?")[0] ?? "/");
    try {
      const encrypted = Boolean((request.raw.socket as { encrypted?: boolean } | null)?.encrypted);
      const url = requestUrl(options, request.url, request.headers, encrypted);
      request.deputy = await verifyWith(
        options,
        { method: request.method, url, headers: request.headers },
        scope,
      );
    } catch (e) {
      const c = challengeFor(e, challengeOptions(options, scope));
      // Fastify: an async hook that has sent the reply returns it, so the route never runs.
      return reply.code(c.status).headers(c.headers).send(c.body);
    }
    return undefined;
  };
}
