/**
 * JWTs an agent signs with its own key: RFC 7523 client assertions (`private_key_jwt`) and RFC
 * 8693 actor tokens. Both carry `iss = sub =` the agent id, `aud` = the issuer, a random `jti`
 * and a short `exp`; the header `kid` is the key's RFC 7638 thumbprint so Deputy finds the key.
 *
 * @example
 * const assertion = await createClientAssertion({ agentId, privateJwk, audience: issuer });
 */
import { type JWK, SignJWT } from "jose";
import { signingKey } from "./jwk.js";
import { randomId } from "./random.js";

/** DESIGN §4: Deputy refuses agent JWTs that live longer than 5 minutes. */
export const MAX_AGENT_JWT_LIFETIME_SEC = 300;

export interface AgentJwtInput {
  /** The agent's `agt_` id (becomes `iss` and `sub`). */
  agentId: string;
  privateJwk: JWK;
  /** Deputy's issuer URL (or its token endpoint). */
  audience: string;
  /** Seconds until `exp`; default 60, at most 300. */
  lifetimeSec?: number;
  /** Override "now" (epoch seconds), for tests. */
  now?: number;
}

async function signAgentJwt(input: AgentJwtInput): Promise<string> {
  const lifetime = input.lifetimeSec ?? 60;
  if (!(lifetime > 0 && lifetime <= MAX_AGENT_JWT_LIFETIME_SEC)) {
    throw new RangeError(`lifetimeSec must be within 1..${MAX_AGENT_JWT_LIFETIME_SEC}`);
  }
  const { key, alg, kid } = await signingKey(input.privateJwk);
  const now = input.now ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomId() })
    .setProtectedHeader({ alg, kid, typ: "JWT" })
    .setIssuer(input.agentId)
    .setSubject(input.agentId)
    .setAudience(input.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .sign(key);
}

/**
 * A `private_key_jwt` client assertion (RFC 7523 §3) for `/oauth/token`.
 *
 * @example
 * const form = new URLSearchParams({
 *   grant_type: "client_credentials",
 *   client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
 *   client_assertion: await createClientAssertion({ agentId, privateJwk, audience: issuer }),
 * });
 */
export function createClientAssertion(input: AgentJwtInput): Promise<string> {
  return signAgentJwt(input);
}

/**
 * An actor token (RFC 8693 §2.1 `actor_token`, type `urn:ietf:params:oauth:token-type:jwt`): the
 * sub-agent's proof that it holds its key, which the parent sends when it delegates.
 *
 * @example
 * const actorToken = await createActorToken({ agentId: subAgentId, privateJwk: subKey, audience: issuer });
 * await parent.delegate({ subAgentId, actorToken, scope: "tickets:read" });
 */
export function createActorToken(input: AgentJwtInput): Promise<string> {
  return signAgentJwt(input);
}
