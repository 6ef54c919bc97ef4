/**
 * Access-token claims in plain words: "agent X, acting for principal P, may do S on R until T".
 *
 * @example
 * describeClaims(decodeJwt(token)); // "agent agt_…, acting for principal prn_…, may do tickets:read on https://api.example.com until 2025-…"
 */
import { type ActorClaim, actorChain } from "@deputy/protocol";
import type { JWTPayload } from "jose";

/** The `act` chain as "agt_child (delegated by agt_parent)". */
export function describeActor(claims: JWTPayload): string {
  const agent = String(claims.client_id ?? claims.sub);
  const act = claims.act as ActorClaim | undefined;
  const chain = act ? actorChain(act).slice(1) : [];
  return chain.length > 0
    ? `agent ${agent} (delegated by ${chain.map((a) => `agent ${a}`).join(", by ")})`
    : `agent ${agent}`;
}

/** One sentence saying who may do what, where, until when. */
export function describeClaims(claims: JWTPayload): string {
  const until = typeof claims.exp === "number" ? new Date(claims.exp * 1000).toISOString() : "?";
  const aud = Array.isArray(claims.aud) ? claims.aud.join(", ") : String(claims.aud);
  return `${describeActor(claims)}, acting for principal ${String(claims.sub)}, may do ${String(claims.scope)} on ${aud} until ${until}`;
}
