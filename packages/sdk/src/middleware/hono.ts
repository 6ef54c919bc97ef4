/**
 * `@deputy/sdk/middleware/hono`: Hono middleware (web standards, so it runs wherever Hono does).
 * Verified requests get `c.get("deputy")`; refusals are answered with 401/403/503 and the RFC
 * 6750 / RFC 9449 challenge.
 *
 * @example
 * app.use("/tickets/*", deputyHono({ verifier, requiredScope: "tickets:read" }));
 * app.get("/tickets/:id", (c) => c.json({ agent: c.get("deputy").agent }));
 */
import { challengeFor } from "../verifier/challenge.js";
import {
  challengeOptions,
  type DeputyCaller,
  type DeputyMiddlewareOptions,
  scopeFor,
  verifyWith,
} from "./common.js";

export type { DeputyCaller, DeputyMiddlewareOptions } from "./common.js";

/** The parts of Hono's context the middleware uses (structural, so Hono stays a peer). */
interface HonoLikeContext {
  req: { method: string; url: string; raw: Request };
  set(key: "deputy", value: DeputyCaller): void;
  json(body: unknown, status?: number, headers?: Record<string, string>): Response;
}

/**
 * Hono middleware; see the module doc.
 *
 * @example
 * const app = new Hono<{ Variables: { deputy: DeputyCaller } }>();
 * app.use(deputyHono({ verifier }));
 */
export function deputyHono(options: DeputyMiddlewareOptions) {
  return async (c: HonoLikeContext, next: () => Promise<void>): Promise<Response | undefined> => {
    const reqUrl = new URL(c.req.url);
    const scope = scopeFor(options, c.req.method, reqUrl.pathname);
    const url =
      options.baseUrl !== undefined
        ? new URL(reqUrl.pathname + reqUrl.search, options.baseUrl).href
        : reqUrl.href;
    try {
      c.set(
        "deputy",
        await verifyWith(options, { method: c.req.method, url, headers: c.req.raw.headers }, scope),
      );
    } catch (e) {
      const ch = challengeFor(e, challengeOptions(options, scope));
      return c.json(ch.body, ch.status, ch.headers);
    }
    await next();
    return undefined;
  };
}
