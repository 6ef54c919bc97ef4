/**
 * The Fastify application: parsers with strict limits, the error edge, and every route. Built from
 * a {@link Deputy} context so tests get the whole server in-process (`app.inject`).
 *
 * @example
 * const app = await buildApp(deputy);
 * await app.listen({ port: 4747, host: "127.0.0.1" });
 */
import { createServer } from "node:http";
import { DeputyError } from "@deputy/protocol";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import { parseTrustProxy } from "../config/trust-proxy.js";
import type { Deputy } from "../context.js";
import { errorHandler, sendOAuthError, sendProblem } from "./errors.js";
import { handleProxy, isProxyRequest } from "./proxy.js";
import { registerAudit } from "./routes/audit.js";
import { registerBroker } from "./routes/broker.js";
import { registerDiscovery } from "./routes/discovery.js";
import { registerManagement } from "./routes/management.js";
import { registerOAuth } from "./routes/oauth.js";
import { registerProvisioning } from "./routes/provisioning.js";
import { registerStatus } from "./routes/status.js";

function nulError(): DeputyError {
  return new DeputyError(
    "ERR_INVALID_REQUEST",
    "the request contains a NUL character (U+0000), which Deputy does not accept",
  );
}

/** True if any string in a parsed JSON value (keys included) holds U+0000. */
function holdsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (Array.isArray(value)) return value.some(holdsNul);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => k.includes("\u0000") || holdsNul(v));
  }
  return false;
}

/** Methods checked for a 405's `Allow` header (Fastify adds HEAD to every GET route). */
const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

export async function buildApp(d: Deputy): Promise<FastifyInstance> {
  const trustedProxies = parseTrustProxy(d.config.trustProxy);
  const app = Fastify({
    loggerInstance: d.log,
    bodyLimit: d.config.bodyLimit,
    // Request logs would carry Authorization and DPoP headers; pino redaction guards the rest.
    logController: new LogController({ disableRequestLogging: true }),
    // X-Forwarded-For is believed only from the listed proxies (proxy-addr: from the right, past
    // listed hops, to the first address that is not one); `false` ignores it from everyone.
    // Fastify applies the same rule to X-Forwarded-Host/-Proto, but Deputy builds no URL from them
    // (every URL comes from the configured issuer). The /proxy gateway derives no client address.
    trustProxy: trustedProxies.length > 0 ? trustedProxies : false,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    // The broker gateway (/proxy) runs on the raw server ahead of Fastify, so request and response
    // bodies stream through without content-type parsing or buffering (docs/decisions.md).
    // node:http's own header limit sits above the gateway's (brokerMaxHeaderBytes), so oversized
    // headers usually get the gateway's problem+json 431 rather than node's bare one.
    serverFactory: (handler) =>
      createServer({ maxHeaderSize: Math.max(16384, d.config.brokerMaxHeaderBytes * 4) }, (req, res) => {
        if (isProxyRequest(req)) handleProxy(d, req, res);
        else handler(req, res);
      }),
  }) as unknown as FastifyInstance; // pino's Logger vs Fastify's base logger type: same object.

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(new DeputyError("ERR_MALFORMED_JSON", "request body is not valid JSON"), undefined);
    }
    // JSON can only spell U+0000 as an escape; look through the values only when one is there.
    if (text.includes("\\u0000") && holdsNul(value)) return done(nulError(), undefined);
    done(null, value);
  });
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    const text = body as string;
    if (text.includes("%00") || text.includes("\u0000")) return done(nulError(), undefined);
    done(null, text);
  });
  // U+0000 in a path or query: refused before routing (the body parsers refuse it in bodies).
  // PostgreSQL text cannot hold it, so letting it through turned lookups and refusal audits into
  // 500s there, while SQLite stored it: one rule for both, at the edge.
  app.addHook("onRequest", async (request) => {
    if (request.url.includes("%00")) throw nulError();
  });

  app.setErrorHandler(errorHandler(d));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    // RFC 9110 §15.5.6: a path that exists under other methods answers 405 with `Allow`.
    const allow = ROUTE_METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
    const e =
      allow.length > 0
        ? new DeputyError(
            "ERR_METHOD_NOT_ALLOWED",
            `${request.method} is not allowed on ${path}; allowed: ${allow.join(", ")}`,
          )
        : new DeputyError("ERR_ROUTE_NOT_FOUND", `no route ${request.method} ${path}; see docs/api.md`);
    if (allow.length > 0) reply.header("allow", allow.join(", "));
    return request.url.startsWith("/oauth/") ? sendOAuthError(reply, e) : sendProblem(reply, e);
  });
  app.addHook("onSend", async (_request, reply) => {
    reply.header("x-content-type-options", "nosniff");
  });

  registerDiscovery(app, d);
  registerOAuth(app, d);
  registerManagement(app, d);
  registerProvisioning(app, d);
  registerAudit(app, d);
  registerBroker(app, d);
  registerStatus(app, d);
  app.get("/healthz", async () => ({ status: "ok" }));
  return app;
}
