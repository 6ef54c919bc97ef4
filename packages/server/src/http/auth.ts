/**
 * Authenticating callers of the management API and of introspection:
 * - `Authorization: Bearer <admin token>` → the admin
 * - `Authorization: Bearer dpp_…` → a principal (token hashed at rest, principal must be active)
 * - `Authorization: DPoP <access token>` + `DPoP: <proof>` → an agent, with a token whose audience
 *   is Deputy itself (the issuer URL), proof-of-possession checked per RFC 9449 §7
 * - `Authorization: Basic <res_id:secret>` → a resource (introspection, revocation events)
 *
 * @example
 * const caller = await authenticateCaller(deputy, request);
 */
import { DeputyError, isId } from "@deputy/protocol";
import type { FastifyRequest } from "fastify";
import { nowSeconds } from "../clock.js";
import type { Deputy } from "../context.js";
import { hashSecret, safeEqual } from "../crypto/secrets.js";
import type { Caller } from "../identity/caller.js";
import { PRINCIPAL_TOKEN_PREFIX } from "../identity/principals.js";
import type { ResourceRecord } from "../store/index.js";
import type { verifyAccessToken } from "../tokens/access-token.js";
import { loadActiveAgent } from "../tokens/client-auth.js";
import { checkDpop } from "../tokens/dpop-check.js";

function unauthenticated(message: string): DeputyError {
  return new DeputyError("ERR_UNAUTHENTICATED", message);
}

export function splitAuthorization(header: string | undefined): { scheme: string; value: string } | null {
  if (!header) return null;
  const i = header.indexOf(" ");
  if (i <= 0) return null;
  return { scheme: header.slice(0, i).toLowerCase(), value: header.slice(i + 1).trim() };
}

export function isAdminToken(d: Deputy, token: string): boolean {
  return safeEqual(hashSecret(token), d.adminTokenHash);
}

const callers = new WeakMap<FastifyRequest, Caller>();

/** The caller this request authenticated as, if it got that far (for attributing refusals). */
export function callerOf(request: FastifyRequest): Caller | undefined {
  return callers.get(request);
}

export async function authenticateCaller(d: Deputy, request: FastifyRequest): Promise<Caller> {
  const caller = await authenticate(d, request);
  callers.set(request, caller);
  return caller;
}

async function authenticate(d: Deputy, request: FastifyRequest): Promise<Caller> {
  const auth = splitAuthorization(request.headers.authorization);
  if (!auth) {
    throw unauthenticated(
      "send Authorization: Bearer <admin or principal token>, or DPoP <access token> with a DPoP proof",
    );
  }
  if (auth.scheme === "bearer") {
    if (isAdminToken(d, auth.value)) return { kind: "admin" };
    if (auth.value.startsWith(`${PRINCIPAL_TOKEN_PREFIX}_`)) {
      const record = await d.store.principals.findTokenByHash(hashSecret(auth.value));
      if (!record) throw unauthenticated("unknown or revoked principal token");
      const principal = await d.store.principals.get(record.principalId);
      if (principal?.status !== "active") throw unauthenticated("the token's principal is disabled");
      return { kind: "principal", principalId: principal.id };
    }
    if (auth.value.split(".").length === 3) {
      // RFC 9449 §7.1: a DPoP-bound access token presented as a bearer token is refused.
      throw new DeputyError(
        "ERR_INVALID_TOKEN",
        "agents call /v1 with Authorization: DPoP <token> and a DPoP proof",
      );
    }
    throw unauthenticated("unknown bearer token");
  }
  if (auth.scheme === "dpop") return authenticateAgentCaller(d, request, auth.value);
  throw unauthenticated(`unsupported authorization scheme ${auth.scheme}`);
}

async function authenticateAgentCaller(d: Deputy, request: FastifyRequest, token: string): Promise<Caller> {
  let claims: ReturnType<typeof verifyAccessToken>;
  try {
    // DESIGN §4: Deputy's own API is the resource whose audience is the issuer URL.
    claims = d.verifiedTokens.verify(token, {
      issuer: d.urls.issuer,
      audience: d.urls.issuer,
      now: nowSeconds(d.clock),
      leewaySec: 0,
      resolveKey: (kid) => d.keys.publicKey(kid),
    });
  } catch (e) {
    throw new DeputyError("ERR_INVALID_TOKEN", (e as Error).message, { cause: e });
  }
  if (!claims.cnf?.jkt) throw new DeputyError("ERR_INVALID_TOKEN", "the access token is not DPoP-bound");
  const path = request.url.split("?")[0] ?? "/";
  const dpop = checkDpop(d, request.headers.dpop, {
    htm: request.method,
    htu: `${d.urls.issuer}${path}`,
    accessToken: token,
    expectedJkt: claims.cnf.jkt,
  });
  if (!dpop) throw new DeputyError("ERR_DPOP_REQUIRED", "send a DPoP proof for this request (RFC 9449 §7.1)");
  const record = await d.store.tokens.get(claims.jti);
  if (!record || record.revokedAt !== null)
    throw new DeputyError("ERR_INVALID_TOKEN", "the access token is revoked");
  if (!(await d.store.nonces.consumeOnce(dpop.replayKey, dpop.replayUntil, d.clock.now()))) {
    throw new DeputyError("ERR_INVALID_DPOP_PROOF", "DPoP proof jti was already used (replay)");
  }
  const agent = await loadActiveAgent(d.store, claims.client_id, "ERR_INVALID_GRANT", d.clock.now()).catch(
    (e: Error) => {
      throw new DeputyError("ERR_INVALID_TOKEN", e.message);
    },
  );
  return {
    kind: "agent",
    agentId: agent.id,
    principalId: agent.principalId,
    chain: agent.chain,
    scopes: claims.scope.split(" ").filter(Boolean),
    tokenId: claims.jti,
    grantId: claims.grant_id,
  };
}

/** RFC 6749 §2.3.1 client_secret_basic for resources (id and secret are form-urlencoded). */
export async function authenticateResource(
  d: Deputy,
  header: string | undefined,
): Promise<ResourceRecord | null> {
  const auth = splitAuthorization(header);
  if (auth?.scheme !== "basic") return null;
  let id: string;
  let secret: string;
  try {
    const decoded = Buffer.from(auth.value, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    if (i < 0) return null;
    id = decodeURIComponent(decoded.slice(0, i).replace(/\+/g, " "));
    secret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, " "));
  } catch {
    return null;
  }
  if (!isId("res", id)) return null;
  const resource = await d.resources.byId(id);
  if (!resource || resource.secretHash === null) return null;
  return safeEqual(hashSecret(secret), resource.secretHash) ? resource : null;
}
