/**
 * What `/oauth/token` answers (RFC 6749 §5.1, RFC 8693 §2.2.1), and the SDK's view of it.
 *
 * @example
 * const token: AgentToken = await agent.getToken({ resource });
 * if (token.expires_at - Date.now() / 1000 < 30) … // the SDK already refreshes before this
 */

/** The token endpoint's JSON answer. */
export interface TokenResponse {
  access_token: string;
  token_type: "DPoP" | "Bearer" | (string & {});
  expires_in: number;
  scope: string;
  /** Present on token-exchange answers (RFC 8693 §2.2.1). */
  issued_token_type?: string;
}

/** A token response with its absolute expiry, `expires_at` (epoch seconds, from the local clock). */
export interface AgentToken extends TokenResponse {
  expires_at: number;
}

/**
 * Checks that a parsed body looks like a token response.
 *
 * @example
 * const token = asTokenResponse(await res.json());
 */
export function asTokenResponse(body: unknown): TokenResponse {
  const b = body as Partial<TokenResponse> | null;
  if (!b || typeof b.access_token !== "string" || typeof b.expires_in !== "number") {
    throw new TypeError("the token endpoint answered without access_token and expires_in");
  }
  return { ...b, scope: typeof b.scope === "string" ? b.scope : "" } as TokenResponse;
}
