/**
 * OAuth endpoints: token (RFC 6749 + RFC 7523 + RFC 8693 + RFC 9449), introspection (RFC 7662),
 * revocation (RFC 7009). Errors leave as RFC 6749 §5.2 bodies; responses carrying tokens are
 * `Cache-Control: no-store` (RFC 6749 §5.1).
 *
 * @example
 * registerOAuth(app, deputy);
 */
import { DeputyError } from "@deputy/protocol";
import type { FastifyInstance } from "fastify";
import type { Deputy } from "../../context.js";
import { parseTokenForm } from "../../tokens/form.js";
import { introspect } from "../../tokens/introspect.js";
import { revocationEndpoint } from "../../tokens/revoke-endpoint.js";
import { tokenEndpoint } from "../../tokens/token-endpoint.js";
import { authenticateResource, isAdminToken, splitAuthorization } from "../auth.js";

const oauth = { config: { oauth: true } };

function formBody(body: unknown): string {
  if (typeof body !== "string") {
    throw new DeputyError(
      "ERR_UNSUPPORTED_MEDIA_TYPE",
      "send application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
    );
  }
  return body;
}

export function registerOAuth(app: FastifyInstance, d: Deputy): void {
  app.post("/oauth/token", oauth, async (request, reply) => {
    const response = await tokenEndpoint(d, formBody(request.body), request.headers.dpop, request.ip);
    reply.header("cache-control", "no-store").header("pragma", "no-cache");
    return response;
  });

  app.post("/oauth/introspect", oauth, async (request, reply) => {
    const form = parseTokenForm(formBody(request.body));
    const auth = splitAuthorization(request.headers.authorization);
    let answer: Awaited<ReturnType<typeof introspect>>;
    if (auth?.scheme === "bearer" && isAdminToken(d, auth.value)) {
      answer = await introspect(d, { kind: "admin" }, requiredToken(form.get("token")));
    } else {
      const resource = await authenticateResource(d, request.headers.authorization);
      if (!resource) {
        throw new DeputyError(
          "ERR_INVALID_CLIENT",
          "authenticate as a resource with HTTP Basic (res_ id and secret)",
        );
      }
      answer = await introspect(d, { kind: "resource", resource }, requiredToken(form.get("token")));
    }
    reply.header("cache-control", "no-store");
    return answer;
  });

  app.post("/oauth/revoke", oauth, async (request, reply) => {
    const form = parseTokenForm(formBody(request.body));
    const auth = splitAuthorization(request.headers.authorization);
    const admin = auth?.scheme === "bearer" && isAdminToken(d, auth.value);
    await revocationEndpoint(d, form, admin);
    reply.header("cache-control", "no-store");
    return reply.code(200).send();
  });
}

function requiredToken(token: string | undefined): string {
  if (!token) throw new DeputyError("ERR_INVALID_REQUEST", "token is required (RFC 7662 §2.1)");
  return token;
}
