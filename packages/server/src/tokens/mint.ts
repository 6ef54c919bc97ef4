/**
 * Minting access tokens: the RFC 9068 profile of DESIGN §4, signed by the issuer's active key.
 *
 * @example
 * const claims = accessTokenClaims({ issuer, principal, audience, agent, chain, scopes, iat, exp, jti, grantId, jkt, statusIdx });
 * const jwt = signAccessToken(keys, claims);
 */
import { type AccessTokenClaims, type AgentProvenanceClaim, actorClaim, formatScope } from "@deputy/protocol";
import type { IssuerKeyring } from "../keys/issuer-keys.js";
import type { VerifiedProvenance } from "../store/index.js";

/** Entries per status list (draft-ietf-oauth-status-list): 2^16 one-bit statuses, 8 KiB raw. */
export const STATUS_LIST_SIZE = 65_536;

export interface MintInput {
  issuer: string;
  statusListBase: string;
  principal: string;
  audience: string;
  agent: string;
  /** Parent agents, nearest first. */
  chain: readonly string[];
  scopes: readonly string[];
  /** Epoch seconds. */
  iat: number;
  exp: number;
  jti: string;
  grantId: string;
  jkt: string | null;
  statusIdx: number;
  /** The acting agent's verified provenance, or null (then `agent_prov.verified` is false). */
  provenance?: VerifiedProvenance | null;
}

/**
 * The compact `agent_prov` claim: verified or not, and when verified the statement's issuer, code
 * digest and whether it was bound to the agent's key (the facts a resource decides on; the rest
 * stays on the agent record). A resource should trust `code_digest` only with `bound: true`.
 *
 * @example
 * agentProvenanceClaim(null); // { verified: false }
 */
export function agentProvenanceClaim(p: VerifiedProvenance | null | undefined): AgentProvenanceClaim {
  if (!p) return { verified: false };
  return p.code_digest === null
    ? { verified: true, iss: p.iss, bound: p.bound }
    : { verified: true, iss: p.iss, code_digest: p.code_digest, bound: p.bound };
}

export function accessTokenClaims(m: MintInput): AccessTokenClaims {
  const claims: AccessTokenClaims = {
    iss: m.issuer,
    sub: m.principal,
    aud: m.audience,
    client_id: m.agent,
    act: actorClaim(m.agent, m.chain),
    scope: formatScope(m.scopes),
    iat: m.iat,
    exp: m.exp,
    jti: m.jti,
    grant_id: m.grantId,
    status: {
      status_list: {
        idx: m.statusIdx % STATUS_LIST_SIZE,
        uri: `${m.statusListBase}/${Math.floor(m.statusIdx / STATUS_LIST_SIZE)}`,
      },
    },
  };
  if (m.jkt !== null) claims.cnf = { jkt: m.jkt };
  claims.agent_prov = agentProvenanceClaim(m.provenance);
  return claims;
}

/** RFC 9068 §2.1: `typ: at+jwt`; RFC 8725 §3.11 explicit typing keeps it apart from other JWTs. */
export function signAccessToken(keys: IssuerKeyring, claims: AccessTokenClaims): string {
  return keys.sign({ typ: "at+jwt" }, claims as unknown as Record<string, unknown>);
}

/** {@link signAccessToken} on the thread pool; also returns the signing key's kid. */
export function signAccessTokenAsync(
  keys: IssuerKeyring,
  claims: AccessTokenClaims,
): Promise<{ jws: string; kid: string }> {
  return keys.signAsync({ typ: "at+jwt" }, claims as unknown as Record<string, unknown>);
}
