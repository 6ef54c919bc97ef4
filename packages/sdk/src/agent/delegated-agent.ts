/**
 * A client for a sub-agent holding a token its parent delegated to it (RFC 8693 token exchange,
 * DESIGN §4): the token is bound to the sub-agent's key (`cnf.jkt`) and carries the chain in
 * `act`. It is re-delegated by the parent when it nears expiry (never outliving the parent's).
 *
 * @example
 * const summarizer = await agent.delegate(subAgent, { scope: "tickets:read", resource: "https://api.example.com" });
 * const res = await summarizer.fetch("https://api.example.com/tickets");
 */
import type { JWK } from "jose";
import { dpopFetch } from "./dpop-fetch.js";
import type { AgentToken, TokenResponse } from "./token-response.js";

/** Refresh this many seconds before a delegated token expires. */
const REFRESH_MARGIN_SEC = 30;

export class DelegatedAgent {
  /** The sub-agent's `agt_` id. */
  readonly agentId: string;
  /** The scope and resource this client was delegated. */
  readonly request: { scope?: string; resource?: string };
  readonly #mint: () => Promise<TokenResponse>;
  readonly #privateJwk: JWK;
  readonly #fetch: typeof fetch;
  readonly #nonces = new Map<string, string>();
  #token: Promise<AgentToken> | undefined;

  constructor(options: {
    agentId: string;
    privateJwk: JWK;
    request: { scope?: string; resource?: string };
    mint: () => Promise<TokenResponse>;
    fetch: typeof fetch;
    first?: TokenResponse;
  }) {
    this.agentId = options.agentId;
    this.request = options.request;
    this.#mint = options.mint;
    this.#privateJwk = options.privateJwk;
    this.#fetch = options.fetch;
    if (options.first) this.#token = Promise.resolve(withExpiry(options.first));
  }

  /**
   * The delegated token, re-delegated by the parent within 30 s of expiry.
   *
   * @example
   * const { access_token, scope } = await sub.getToken();
   */
  async getToken(): Promise<AgentToken> {
    const current = await this.#token?.catch(() => undefined);
    if (current && current.expires_at - REFRESH_MARGIN_SEC > Math.floor(Date.now() / 1000)) return current;
    const pending = this.#mint().then(withExpiry);
    this.#token = pending;
    return pending;
  }

  /**
   * `fetch` as the sub-agent: its delegated token and a DPoP proof signed with its own key.
   *
   * @example
   * const res = await sub.fetch("https://api.example.com/tickets/42");
   */
  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const token = await this.getToken();
    return dpopFetch(
      { fetch: this.#fetch, privateJwk: this.#privateJwk, nonces: this.#nonces },
      token,
      url,
      init,
    );
  }

  /** Forgets the cached token. */
  clearTokens(): void {
    this.#token = undefined;
  }
}

function withExpiry(t: TokenResponse): AgentToken {
  return { ...t, expires_at: Math.floor(Date.now() / 1000) + t.expires_in };
}
