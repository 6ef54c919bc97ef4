/**
 * Everything a request handler needs, built once by `startDeputy` and passed down explicitly.
 *
 * @example
 * const token = await issueToken(deputy, request);
 */
import type { Logger } from "pino";
import type { AuditLedger } from "./audit/ledger.js";
import type { Audit } from "./audit/record.js";
import type { BrokerRuntime } from "./broker/runtime.js";
import type { Vault } from "./broker/vault.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config/defaults.js";
import type { MasterKeyRing } from "./crypto/master-key-ring.js";
import type { ResourceCache } from "./identity/resource-cache.js";
import type { IssuerKeyring } from "./keys/issuer-keys.js";
import type { WindowRateLimiter } from "./provision/rate-limit.js";
import type { RevocationFeed } from "./status/revocation-feed.js";
import type { StatusLists } from "./status/status-list.js";
import type { Store } from "./store/index.js";
import type { VerifiedTokenCache } from "./tokens/access-token.js";
import type { RevocationIndex } from "./tokens/revocation-index.js";
import type { StatusIndexAllocator } from "./tokens/status-indexes.js";

export interface Deputy {
  config: Config;
  store: Store;
  clock: Clock;
  keys: IssuerKeyring;
  audit: Audit;
  /** The audit ledger: Merkle tree, signed checkpoints and proofs over the audit log. */
  ledger: AuditLedger;
  log: Logger;
  /** In-memory view of revocations for in-process verification; the store stays authoritative. */
  revocations: RevocationIndex;
  /** SHA-256 hex of the admin token. */
  adminTokenHash: string;
  /**
   * HMAC keys for stateless DPoP nonces (RFC 9449 §8), derived from each master key: the first
   * (from the active key) makes nonces, every one is accepted, so a master-key rotation does not
   * void nonces other replicas (or this process before a restart) handed out.
   */
  dpopNonceKeys: Buffer[];
  /** The master-key ring (crypto/master-key-ring.ts): seals with the first key, opens with any. */
  masterKeys: MasterKeyRing;
  urls: DeputyUrls;
  statusIndexes: StatusIndexAllocator;
  /**
   * Claims of access tokens whose signature this process already verified, keyed by the exact
   * token string; `exp`, `iss` and `aud` are re-checked on every hit, and revocation is always
   * looked up in the store, so a hit only skips the signature check.
   */
  verifiedTokens: VerifiedTokenCache;
  /** This process's reader of the revocation event log; the SSE route and `revocations` subscribe. */
  revocationFeed: RevocationFeed;
  /** Token Status Lists (draft-ietf-oauth-status-list), built on demand and cached briefly. */
  statusLists: StatusLists;
  /** Registered resources by id and audience (immutable, so cached for the process's life). */
  resources: ResourceCache;
  provisioning: {
    /** HMAC keys for stateless proof-of-work challenges, one per master key, active first. */
    powKeys: Buffer[];
    /** Temporary agents per client address per hour. */
    temporaryLimiter: WindowRateLimiter;
  };
  /** The broker's secret vault (envelope encryption under the master key). */
  vault: Vault;
  /** The broker's in-process state: connection cache, rate limiter, approval notifications. */
  broker: BrokerRuntime;
}

export interface DeputyUrls {
  issuer: string;
  tokenEndpoint: string;
  introspectionEndpoint: string;
  revocationEndpoint: string;
  jwksUri: string;
  api: string;
  statusLists: string;
  revocationEvents: string;
  auditCheckpoint: string;
}

export function deputyUrls(issuer: string): DeputyUrls {
  return {
    issuer,
    tokenEndpoint: `${issuer}/oauth/token`,
    introspectionEndpoint: `${issuer}/oauth/introspect`,
    revocationEndpoint: `${issuer}/oauth/revoke`,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    api: `${issuer}/v1`,
    statusLists: `${issuer}/v1/status/lists`,
    revocationEvents: `${issuer}/v1/revocations/events`,
    auditCheckpoint: `${issuer}/v1/audit/checkpoint`,
  };
}
