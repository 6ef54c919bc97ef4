/**
 * An in-memory view of what is revoked, for verifying tokens in-process without a database
 * round-trip: token ids, agents, grants and principals. The store remains the authority; this
 * index is fed by every revocation this process makes (and, for replicas, by the revocation
 * event stream).
 *
 * Token ids are kept only until the token would have expired anyway; agents, grants and
 * principals are kept until `forget` — revocation is permanent.
 *
 * @example
 * index.add({ tokens: [{ id: "tok_…", expiresAt }], agents: ["agt_…"] });
 * index.isRevoked(claims); // true when the token, its grant, any agent in its chain, or its principal is revoked
 */
import { type AccessTokenClaims, actorChain } from "@deputy/protocol";

export class RevocationIndex {
  private readonly tokens = new Map<string, number>();
  private readonly ids = new Set<string>();
  private lastSweep = 0;

  add(cascade: {
    tokens?: Array<{ id: string; expiresAt: number }>;
    agents?: string[];
    grants?: string[];
    principals?: string[];
  }): void {
    for (const t of cascade.tokens ?? []) this.tokens.set(t.id, t.expiresAt);
    for (const id of cascade.agents ?? []) this.ids.add(id);
    for (const id of cascade.grants ?? []) this.ids.add(id);
    for (const id of cascade.principals ?? []) this.ids.add(id);
  }

  /** True when the token, its grant, its principal, or any agent in its actor chain is revoked. */
  isRevoked(claims: Pick<AccessTokenClaims, "jti" | "sub" | "grant_id" | "act">): boolean {
    if (this.tokens.has(claims.jti) || this.ids.has(claims.grant_id) || this.ids.has(claims.sub)) return true;
    if (this.ids.size === 0) return false;
    for (const agent of actorChain(claims.act)) if (this.ids.has(agent)) return true;
    return false;
  }

  /** Drops token ids whose tokens have expired (they are invalid by `exp` anyway). */
  sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [id, exp] of this.tokens) if (exp <= now) this.tokens.delete(id);
  }

  get size(): number {
    return this.tokens.size + this.ids.size;
  }
}
