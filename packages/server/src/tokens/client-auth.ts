/**
 * Agent authentication at the token endpoint: `private_key_jwt` (RFC 7523 §2.2, OpenID Connect
 * Core §9). The assertion is signed by one of the agent's registered keys with
 * `iss = sub = agent id`, `aud` = issuer or token endpoint, `exp` ≤ 5 minutes away, and a `jti`
 * that is consumed once (by the caller, in the same transaction as what it authorises).
 *
 * @example
 * const { agent, replayKey, replayUntil } = await authenticateAgent(deputy, form);
 */
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, DeputyError } from "@deputy/protocol";
import { nowSeconds } from "../clock.js";
import type { Deputy } from "../context.js";
import { publicKeyFromJwk } from "../crypto/jwk.js";
import type { AgentRecord, Store } from "../store/index.js";
import { parseAgentJwt, prefetchAgentJwt, verifyAgentJwt } from "./agent-jwt.js";
import type { TokenForm } from "./form.js";

export const MAX_ASSERTION_LIFETIME_S = 300;

export interface AuthenticatedAgent {
  agent: AgentRecord;
  /** Key to pass to `nonces.consumeOnce` so the assertion cannot be replayed. */
  replayKey: string;
  replayUntil: number;
}

/** Reads the agent id from an assertion without trusting it (for attributing refusals). */
export function claimedAgent(form: TokenForm): string | null {
  const assertion = form.get("client_assertion");
  if (!assertion) return null;
  try {
    return parseAgentJwt(assertion).agentId;
  } catch {
    return null;
  }
}

/** Forms whose client authentication succeeded (a refusal after it is an authenticated decision). */
const authenticatedForms = new WeakSet<TokenForm>();

/**
 * Whether {@link authenticateAgent} accepted this form's client assertion.
 *
 * @example
 * isAuthenticatedForm(form); // false until authenticateAgent(d, form) has returned
 */
export function isAuthenticatedForm(form: TokenForm): boolean {
  return authenticatedForms.has(form);
}

export async function authenticateAgent(d: Deputy, form: TokenForm): Promise<AuthenticatedAgent> {
  const type = form.get("client_assertion_type");
  const assertion = form.get("client_assertion");
  if (type !== CLIENT_ASSERTION_TYPE_JWT_BEARER || !assertion) {
    throw new DeputyError(
      "ERR_INVALID_CLIENT",
      `authenticate with private_key_jwt: client_assertion_type=${CLIENT_ASSERTION_TYPE_JWT_BEARER} and a client_assertion`,
    );
  }
  let parsed: ReturnType<typeof parseAgentJwt>;
  try {
    parsed = parseAgentJwt(assertion);
  } catch (e) {
    throw asInvalidClient(e);
  }
  const clientId = form.get("client_id");
  if (clientId !== undefined && clientId !== parsed.agentId) {
    throw new DeputyError("ERR_INVALID_CLIENT", "client_id does not match the assertion's subject");
  }
  const agent = await loadActiveAgent(d.store, parsed.agentId, "ERR_INVALID_CLIENT", d.clock.now());
  const keys = await agentVerificationKeys(d.store, agent.id);
  await prefetchAgentJwt(parsed, keys);
  const verified = verifyAgentJwt(parsed, {
    keys,
    audiences: [d.urls.issuer, d.urls.tokenEndpoint],
    now: nowSeconds(d.clock),
    maxLifetimeSec: MAX_ASSERTION_LIFETIME_S,
    skewSec: d.config.clockSkew,
    errorCode: "ERR_INVALID_CLIENT",
  });
  authenticatedForms.add(form);
  return {
    agent,
    replayKey: `ca:${agent.id}:${verified.jti}`,
    replayUntil: (verified.exp + d.config.clockSkew) * 1000,
  };
}

/**
 * The agent, refusing with `code` unknown or revoked agents, disabled principals, and temporary
 * agents whose claim window closed unclaimed at `now` (epoch ms), even before the sweeper got to them.
 */
export async function loadActiveAgent(
  store: Store,
  agentId: string,
  code: "ERR_INVALID_CLIENT" | "ERR_INVALID_GRANT",
  now: number,
): Promise<AgentRecord> {
  const agent = await store.agents.get(agentId);
  if (!agent) throw new DeputyError(code, `unknown agent ${agentId}`);
  if (agent.status !== "active") throw new DeputyError(code, `agent ${agentId} is revoked`);
  if (agent.temporaryUntil !== null && agent.temporaryUntil <= now) {
    throw new DeputyError(code, `temporary agent ${agentId} was not claimed within its claim window`);
  }
  const principal = await store.principals.get(agent.principalId);
  if (principal?.status !== "active") {
    throw new DeputyError(code, `the principal of agent ${agentId} is disabled`);
  }
  return agent;
}

export async function agentVerificationKeys(store: Store, agentId: string) {
  const keys = await store.agents.keys(agentId);
  return keys.map((k) => ({ kid: k.kid, alg: k.alg, keyObject: publicKeyFromJwk(k.jwk) }));
}

function asInvalidClient(e: unknown): DeputyError {
  if (e instanceof DeputyError)
    return e.code === "ERR_INVALID_CLIENT" ? e : new DeputyError("ERR_INVALID_CLIENT", e.message);
  return new DeputyError("ERR_INVALID_CLIENT", "client_assertion is not a well-formed JWT", { cause: e });
}
