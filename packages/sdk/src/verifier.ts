/**
 * `@deputy/sdk/verifier`: for APIs and MCP servers that accept Deputy tokens. Web standards only
 * (`fetch`, Web Crypto, Compression Streams, jose), so it runs on Node, Deno, Bun and workers; a
 * test bundles it for a neutral platform and fails on any Node built-in.
 *
 * @example
 * import { createVerifier } from "@deputy/sdk/verifier";
 * const verifier = createVerifier({ issuer: "http://127.0.0.1:4747", audience: "https://api.example.com", resourceId, resourceSecret });
 * const { agent, principal, chain, scope } = await verifier.verify({ method: "GET", url, headers });
 */
export type { AccessTokenClaims, ActorClaim } from "./verifier/access-token.js";
export { type Challenge, type ChallengeOptions, challengeFor } from "./verifier/challenge.js";
export { type DpopNonceSource, normalizeHtu, rotatingNonces } from "./verifier/dpop.js";
export {
  refuse,
  VERIFICATION_ERRORS,
  VerificationError,
  type VerificationErrorCode,
} from "./verifier/errors.js";
export {
  DEFAULT_REVOCATION_EVENT_LENGTH,
  EventStreamError,
  parseRevocationEvent,
  type RevocationEvent,
  RevocationStream,
  type RevocationStreamOptions,
} from "./verifier/event-stream.js";
export { type IssuerMetadata, metadataUrl } from "./verifier/issuer-keys.js";
export {
  defaultSignatureBackend,
  type NodeCryptoLike,
  nodeCryptoBackendOf,
  type SignatureBackend,
  webCryptoBackend,
} from "./verifier/jws.js";
export { ReplayCache } from "./verifier/replay-cache.js";
export { type RevocationCascade, RevocationIndex } from "./verifier/revocation-index.js";
export {
  DEFAULT_SSE_MAX_EVENT_LENGTH,
  DEFAULT_SSE_MAX_LINE_LENGTH,
  type SseEvent,
  SseParser,
} from "./verifier/sse.js";
export {
  inflateZlib,
  parseStatusListToken,
  type StatusList,
  StatusListError,
  statusAt,
} from "./verifier/status-list.js";
export {
  basicAuth,
  createVerifier,
  type DpopRequest,
  type HeadersLike,
  type RequestLike,
  type RevocationHealth,
  requireScope,
  type VerifiedCaller,
  Verifier,
  type VerifierOptions,
  type VerifyTokenOptions,
} from "./verifier/verifier.js";
