/**
 * Deputy's SDK for agents: keys, client assertions, DPoP proofs, and {@link DeputyAgent}, which
 * mints, caches and uses DPoP-bound tokens and delegates to sub-agents. Web standards only.
 *
 * @example
 * import { DeputyAgent, generateAgentKey } from "@deputy/sdk";
 * const { privateJwk, publicJwk, kid } = await generateAgentKey();
 */
export { type AgentJwtInput, createActorToken, createClientAssertion } from "./agent/assertion.js";
export {
  type DelegateRequest,
  DeputyAgent,
  type DeputyAgentOptions,
  TOKEN_REFRESH_MARGIN_SEC,
  type TokenRequest,
} from "./agent/deputy-agent.js";
export { accessTokenHash, createDpopProof, type DpopProofInput } from "./agent/dpop-proof.js";
export { DeputyClientError } from "./agent/errors.js";
export {
  type AgentKey,
  type AgentKeyAlg,
  generateAgentKey,
  jwkAlg,
  jwkThumbprint,
  publicJwkOf,
} from "./agent/jwk.js";
export type { AgentToken, TokenResponse } from "./agent/token-response.js";
