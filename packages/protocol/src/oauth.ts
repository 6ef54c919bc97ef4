/**
 * OAuth constants used on the wire.
 *
 * @example
 * if (form.grant_type === GRANT_TYPE_TOKEN_EXCHANGE) { … }
 */

export const GRANT_TYPE_CLIENT_CREDENTIALS = "client_credentials";
/** RFC 8693 §2.1 */
export const GRANT_TYPE_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
/** RFC 7523 §2.2 */
export const CLIENT_ASSERTION_TYPE_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** RFC 8693 §3 */
export const TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
export const TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt";

/** Signature algorithms Deputy accepts anywhere (RFC 8725 §3.1: an explicit allow-list). */
export const ALLOWED_ALGS = ["EdDSA", "ES256"] as const;
export type AllowedAlg = (typeof ALLOWED_ALGS)[number];

/** Scope an agent needs to create its own sub-agents through `/v1`. */
export const SCOPE_AGENTS_DELEGATE = "agents:delegate";

/** RFC 9068 access-token claims as Deputy issues them (DESIGN §4). */
export interface AccessTokenClaims {
  iss: string;
  /** The principal on whose behalf the agent acts. */
  sub: string;
  aud: string;
  /** The acting agent. */
  client_id: string;
  /** RFC 8693 §4.1 actor chain: the acting agent, then its parent, nested. */
  act: ActorClaim;
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  grant_id: string;
  cnf?: { jkt: string };
  status: { status_list: { idx: number; uri: string } };
  /** Compact provenance of the acting agent (Deputy extension; see {@link AgentProvenanceClaim}). */
  agent_prov?: AgentProvenanceClaim;
}

/**
 * `agent_prov`: whether the acting agent's provenance was verified from a software statement
 * signed by a registered provenance issuer, and if so that issuer, the statement's code digest and
 * `bound`: whether the statement was bound to the agent's key (`cnf.jkt`). An unbound statement
 * proves only that someone held it; decide on `code_digest` only when `bound` is true.
 *
 * @example
 * const prov: AgentProvenanceClaim = { verified: true, iss: "https://ci.example", code_digest: "sha256:…", bound: true };
 */
export interface AgentProvenanceClaim {
  verified: boolean;
  iss?: string;
  code_digest?: string;
  /** Present when `verified`. */
  bound?: boolean;
}

export interface ActorClaim {
  sub: string;
  act?: ActorClaim;
}

/** Builds the nested `act` claim from the acting agent and its chain (nearest parent first). */
export function actorClaim(agent: string, chain: readonly string[]): ActorClaim {
  let act: ActorClaim | undefined;
  for (let i = chain.length - 1; i >= 0; i--) {
    const sub = chain[i] as string;
    act = act === undefined ? { sub } : { sub, act };
  }
  return act === undefined ? { sub: agent } : { sub: agent, act };
}

/** Flattens an `act` claim into [acting agent, parent, grandparent, …]. */
export function actorChain(act: ActorClaim): string[] {
  const out: string[] = [];
  let cur: ActorClaim | undefined = act;
  while (cur !== undefined) {
    out.push(cur.sub);
    cur = cur.act;
  }
  return out;
}
