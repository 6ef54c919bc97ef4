/**
 * `@deputy/sdk/agent`: for agents. Keys, client assertions, DPoP proofs, and {@link DeputyAgent},
 * which mints, caches and uses DPoP-bound tokens and delegates to sub-agents. Web standards only;
 * loading a key file from disk is in `@deputy/sdk/node`.
 *
 * @example
 * import { DeputyAgent } from "@deputy/sdk/agent";
 * const agent = new DeputyAgent({ issuer: "http://127.0.0.1:4747", agentId: "agt_…", privateJwk });
 * const res = await agent.fetch("https://api.example.com/tickets", {}, { resource: "https://api.example.com" });
 */
export { type AgentJwtInput, createActorToken, createClientAssertion } from "./agent/assertion.js";
export { DelegatedAgent } from "./agent/delegated-agent.js";
export {
  type DelegateRequest,
  DeputyAgent,
  type DeputyAgentOptions,
  type SubAgent,
  TOKEN_REFRESH_MARGIN_SEC,
  type TokenRequest,
} from "./agent/deputy-agent.js";
export { dpopFetch } from "./agent/dpop-fetch.js";
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
