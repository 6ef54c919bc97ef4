/**
 * The error edge: every failure leaves as RFC 9457 `application/problem+json` with a stable
 * `code` on the management API, or as an RFC 6749 §5.2 body on OAuth endpoints. Internals stay in
 * the log; a 500 says nothing but that it happened and its request id.
 *
 * @example
 * app.setErrorHandler(errorHandler(deputy));
 */
import { DeputyError, type ErrorCode } from "@deputy/protocol";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { type AuditEvent, wasAudited } from "../audit/record.js";
import type { Deputy } from "../context.js";
import { actorOf } from "../identity/caller.js";
import { clientAddressKey } from "../provision/index.js";
import { StoreConflictError } from "../store/index.js";
import { callerOf } from "./auth.js";

/** Fastify's own errors → our codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "ERR_BODY_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "ERR_UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_EMPTY_JSON_BODY: "ERR_MALFORMED_JSON",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "ERR_INVALID_REQUEST",
  FST_ERR_CTP_EMPTY_TYPE: "ERR_UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_TYPE: "ERR_UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_BAD_URL: "ERR_INVALID_REQUEST",
  FST_ERR_ASYNC_CONSTRAINT: "ERR_INVALID_REQUEST",
};

export function toDeputyError(err: unknown): DeputyError | null {
  if (err instanceof DeputyError) return err;
  if (err instanceof StoreConflictError)
    return new DeputyError("ERR_CONFLICT", `${err.entity} already exists`);
  const fe = err as FastifyError;
  if (fe && typeof fe.code === "string" && fe.code in FASTIFY_CODES) {
    return new DeputyError(FASTIFY_CODES[fe.code]!, fe.message);
  }
  if (fe && fe.statusCode === 400 && (err as SyntaxError) instanceof SyntaxError) {
    return new DeputyError("ERR_MALFORMED_JSON", "request body is not valid JSON");
  }
  // PostgreSQL refused a value it cannot store (22021: U+0000 in text; 22P05: an escape it cannot
  // convert). Input that reached the database without a narrower check is still bad input.
  if (fe && (fe.code === "22021" || fe.code === "22P05")) {
    return new DeputyError(
      "ERR_INVALID_REQUEST",
      "the request holds text the database cannot store (U+0000 or an unpaired surrogate); remove it",
    );
  }
  // SQLite: another process (a cluster worker, a CLI command on the same file) held the write lock
  // for the whole wait (store/sqlite-dialect.ts). The write that waited was not made, but a
  // request that writes more than once may have made an earlier one (an API call's DPoP proof jti
  // is spent before the call's own transaction, http/auth.ts), so the answer does not claim that
  // nothing changed.
  if (fe && (fe.code === "SQLITE_BUSY" || fe.code === "SQLITE_BUSY_RECOVERY")) {
    return new DeputyError(
      "ERR_UNAVAILABLE",
      "the database stayed locked by another process (another deputy worker or command writing to the same file) and the request did not complete: retry in a few seconds",
    );
  }
  return null;
}

/** Slug for the problem `type` (RFC 9457 §3.1.1 allows a relative URI reference). */
export function problemType(code: ErrorCode): string {
  return code.replace(/^ERR_/, "").toLowerCase().replace(/_/g, "-");
}

/** Token and proof failures at a protected resource (RFC 6750 §3.1, RFC 9449 §7.1 and §9). */
const RESOURCE_CHALLENGES = new Set<ErrorCode>([
  "ERR_INVALID_TOKEN",
  "ERR_INVALID_DPOP_PROOF",
  "ERR_USE_DPOP_NONCE",
  "ERR_DPOP_REQUIRED",
]);

export function sendProblem(reply: FastifyReply, e: DeputyError, instance?: string): FastifyReply {
  let status = e.status;
  if (RESOURCE_CHALLENGES.has(e.code)) {
    status = 401;
    const nonce = e.extra?.dpop_nonce;
    if (typeof nonce === "string") reply.header("dpop-nonce", nonce);
    reply.header("www-authenticate", `DPoP error="${e.oauthError}", algs="EdDSA ES256"`);
  } else if (status === 401) {
    reply.header("www-authenticate", 'Bearer realm="deputy", DPoP algs="EdDSA ES256"');
  }
  return reply
    .code(status)
    .type("application/problem+json")
    .send({
      type: problemType(e.code),
      title: e.title,
      status,
      detail: e.message,
      code: e.code,
      ...(instance ? { instance } : {}),
      ...(e.extra && !("oauth_error" in e.extra) && !("dpop_nonce" in e.extra) ? e.extra : {}),
    });
}

export function sendOAuthError(reply: FastifyReply, e: DeputyError): FastifyReply {
  const error = (e.extra?.oauth_error as string | undefined) ?? e.oauthError;
  let status = e.status;
  if (e.code === "ERR_INVALID_CLIENT") status = 401; // RFC 6749 §5.2
  if (e.code === "ERR_UNAUTHENTICATED") status = 401;
  if (e.code === "ERR_USE_DPOP_NONCE" && typeof e.extra?.dpop_nonce === "string") {
    reply.header("dpop-nonce", e.extra.dpop_nonce); // RFC 9449 §8
  }
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="deputy"');
  return reply
    .code(status)
    .header("cache-control", "no-store")
    .type("application/json")
    .send({ error, error_description: e.message });
}

/** Routes whose path carries a secret (a claim code): the log keeps the route template instead. */
const SECRET_PATH_ROUTES = new Set(["/v1/claims/:code"]);

function auditedPath(request: FastifyRequest): string {
  const route = request.routeOptions.url;
  if (route !== undefined && SECRET_PATH_ROUTES.has(route)) return route;
  return request.url.split("?")[0] ?? "/";
}

/** Refusals that are authorization decisions, and so are audited (DESIGN §4). */
function isAuthorizationDecision(e: DeputyError): boolean {
  return (
    e.status === 401 ||
    e.status === 403 ||
    e.code === "ERR_NOT_FOUND" ||
    e.oauthError === "unauthorized_client"
  );
}

export function errorHandler(d: Deputy) {
  return async (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const e = toDeputyError(err);
    const oauth = (request.routeOptions.config as { oauth?: boolean } | undefined)?.oauth === true;
    // The token endpoint audits its own refusals, with the agent the request claimed to be, and
    // so do enrollment and temporary registration (markAudited): one entry per refusal.
    if (e && isAuthorizationDecision(e) && request.routeOptions.url !== "/oauth/token" && !wasAudited(err)) {
      const caller = callerOf(request);
      const event: AuditEvent = {
        action: "request.denied",
        decision: "denied",
        actor: caller ? actorOf(caller) : { agent: null, chain: [], principal: null, kind: "anonymous" },
        tokenId: caller?.kind === "agent" ? caller.tokenId : null,
        grantId: caller?.kind === "agent" ? caller.grantId : null,
        request: { method: request.method, url: auditedPath(request) },
        details: { code: e.code, route: request.routeOptions.url ?? null },
      };
      // A caller that did not authenticate is throttled per client address (audit/refusal-throttle.ts).
      await (caller
        ? d.audit.record(event)
        : d.audit.recordRefusal(event, clientAddressKey(request.ip))
      ).catch((error: unknown) => request.log.error({ err: error }, "audit of a refusal failed"));
    }
    if (e) return oauth ? sendOAuthError(reply, e) : sendProblem(reply, e);
    request.log.error({ err }, "unhandled error");
    const internal = new DeputyError(
      "ERR_INTERNAL",
      `internal error (request ${request.id}); the server log has details`,
    );
    void d;
    return oauth ? sendOAuthError(reply, internal) : sendProblem(reply, internal);
  };
}
