/**
 * In-process verification of Deputy access tokens: signature and RFC 9068 claims through
 * {@link VerifiedTokenCache} (a token seen before skips the signature check), then revocation
 * state from the in-memory {@link RevocationIndex} — no database round-trip per call. This is what
 * a resource embedded in the same process (or Deputy's own hot paths) uses; remote resource
 * servers use the SDK verifier, which is fed by the status list and revocation events.
 *
 * @example
 * const verifier = new LocalTokenVerifier(deputy, "https://api.example.com");
 * const claims = verifier.verify(token); // throws ERR_INVALID_TOKEN when invalid or revoked
 */

import type { KeyObject } from "node:crypto";
import { type AccessTokenClaims, DeputyError } from "@deputy/protocol";
import { VerifiedTokenCache } from "./access-token.js";
import type { RevocationIndex } from "./revocation-index.js";

export interface LocalVerifierSource {
  issuer: string;
  /** Epoch ms. */
  now(): number;
  resolveKey(kid: string): KeyObject | undefined;
  revocations: RevocationIndex;
}

export class LocalTokenVerifier {
  private readonly cache: VerifiedTokenCache;

  constructor(
    private readonly source: LocalVerifierSource,
    private readonly audience: string,
    cacheSize = 10_000,
  ) {
    this.cache = new VerifiedTokenCache(cacheSize);
  }

  verify(token: string): AccessTokenClaims {
    const claims = this.cache.verify(token, {
      issuer: this.source.issuer,
      audience: this.audience,
      now: Math.floor(this.source.now() / 1000),
      resolveKey: (kid) => this.source.resolveKey(kid),
    });
    if (this.source.revocations.isRevoked(claims)) {
      throw new DeputyError("ERR_INVALID_TOKEN", "the access token has been revoked");
    }
    return claims;
  }
}
