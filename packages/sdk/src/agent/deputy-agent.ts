/**
 * An agent's client for Deputy: mints DPoP-bound tokens with `private_key_jwt` (cached until
 * 30 s before expiry), delegates narrower tokens to sub-agents by token exchange, and calls
 * resources (and Deputy's own `/v1`) with `Authorization: DPoP` and a fresh proof per request.
 * Web standards only (`fetch`, Web Crypto, jose), so it runs on any runtime.
 *
 * @example
 * const agent = new DeputyAgent({ issuer: "http://127.0.0.1:4747", agentId: "agt_…", privateJwk });
 * const res = await agent.fetch("https://api.example.com/tickets", {}, { resource: "https://api.example.com", scope: "tickets:read" });
 */
import type { JWK } from "jose";
import { createActorToken, createClientAssertion } from "./assertion.js";
import { DelegatedAgent } from "./delegated-agent.js";
import { dpopFetch } from "./dpop-fetch.js";
import { createDpopProof, htuOf } from "./dpop-proof.js";
import { DeputyClientError } from "./errors.js";
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  GRANT_TYPE_CLIENT_CREDENTIALS,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "./oauth-constants.js";
import { type AgentToken, asTokenResponse, type TokenResponse } from "./token-response.js";

/** Refresh this many seconds before a cached token expires. */
export const TOKEN_REFRESH_MARGIN_SEC = 30;

export interface DeputyAgentOptions {
  /** Deputy's issuer URL (the `iss` of its tokens), e.g. `http://127.0.0.1:4747`. */
  issuer: string;
  /** This agent's `agt_` id. */
  agentId: string;
  /** This agent's private key (never leaves this process). */
  privateJwk: JWK;
  /** Default `${issuer}/oauth/token`. */
  tokenEndpoint?: string;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

export interface TokenRequest {
  /** Space-separated scopes; omitted means the grant's full scope (RFC 6749 §3.3). */
  scope?: string;
  /** The audience (RFC 8707); may be omitted only when the agent's grants name exactly one. */
  resource?: string;
}

export interface DelegateRequest {
  /** The sub-agent (a direct child of this agent). */
  subAgentId: string;
  /** The sub-agent's actor token, when the sub-agent signs it itself… */
  actorToken?: string;
  /** …or its private key, to sign the actor token (and the DPoP proof) here. */
  subAgentPrivateJwk?: JWK;
  /** Narrower scope for the sub-agent; default: everything in the parent's token. */
  scope?: string;
  /** The resource; default: the parent token's audience. */
  resource?: string;
  /** The parent's token to exchange; default: this agent's token for `resource`. */
  subjectToken?: string;
}

const now = () => Math.floor(Date.now() / 1000);

/** A sub-agent, for {@link DeputyAgent.delegate}: a DeputyAgent, or its id and private key. */
export type SubAgent = DeputyAgent | { agentId: string; privateJwk: JWK };

/** Private keys of DeputyAgent instances, so a parent can sign with a sub-agent passed to it. */
const keys = new WeakMap<DeputyAgent, JWK>();

export class DeputyAgent {
  readonly issuer: string;
  readonly agentId: string;
  readonly tokenEndpoint: string;
  readonly #privateJwk: JWK;
  readonly #fetch: typeof fetch;
  readonly #cache = new Map<string, Promise<AgentToken>>();
  /** The last `DPoP-Nonce` each origin sent (RFC 9449 §8, §9). */
  readonly #nonces = new Map<string, string>();

  constructor(options: DeputyAgentOptions) {
    this.issuer = options.issuer.replace(/\/+$/, "");
    this.agentId = options.agentId;
    this.tokenEndpoint = options.tokenEndpoint ?? `${this.issuer}/oauth/token`;
    this.#privateJwk = options.privateJwk;
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    keys.set(this, options.privateJwk);
  }

  /**
   * A DPoP-bound access token for `resource` (and `scope`), from the cache while it has more than
   * 30 s to live. Concurrent calls for the same (scope, resource) share one request.
   *
   * @example
   * const { access_token, expires_at } = await agent.getToken({ resource: "https://api.example.com", scope: "tickets:read" });
   */
  getToken(request: TokenRequest = {}): Promise<AgentToken> {
    const key = `${request.scope ?? ""}\n${request.resource ?? ""}`;
    const cached = this.#cache.get(key);
    if (cached) {
      return cached.then(
        (t) => (t.expires_at - TOKEN_REFRESH_MARGIN_SEC > now() ? t : this.#refresh(key, request)),
        () => this.#refresh(key, request),
      );
    }
    return this.#refresh(key, request);
  }

  /** Forgets cached tokens (after a revocation, say). */
  clearTokens(): void {
    this.#cache.clear();
  }

  #refresh(key: string, request: TokenRequest): Promise<AgentToken> {
    const pending = this.#requestToken(request);
    this.#cache.set(key, pending);
    pending.catch(() => {
      if (this.#cache.get(key) === pending) this.#cache.delete(key);
    });
    return pending;
  }

  async #requestToken(request: TokenRequest): Promise<AgentToken> {
    const params: Record<string, string> = { grant_type: GRANT_TYPE_CLIENT_CREDENTIALS };
    if (request.scope !== undefined) params.scope = request.scope;
    if (request.resource !== undefined) params.resource = request.resource;
    const response = await this.#postToken(params, this.#privateJwk);
    return { ...response, expires_at: now() + response.expires_in };
  }

  /**
   * Delegates a narrower token to a sub-agent by RFC 8693 token exchange. The answer is bound to
   * the sub-agent's key (its `cnf.jkt`) and carries the chain in `act`; hand it to the sub-agent.
   *
   * With a sub-agent (a {@link DeputyAgent} or its id and key) it answers a
   * {@link DelegatedAgent}: a client that calls as the sub-agent and re-delegates before expiry.
   * With a {@link DelegateRequest} it answers the raw token response.
   *
   * @example
   * const summarizer = await agent.delegate(subAgent, { scope: "tickets:read", resource: "https://api.example.com" });
   * await summarizer.fetch("https://api.example.com/tickets");
   * // or: const raw = await agent.delegate({ subAgentId, subAgentPrivateJwk, scope: "tickets:read", resource });
   */
  delegate(subAgent: SubAgent, request?: { scope?: string; resource?: string }): Promise<DelegatedAgent>;
  delegate(request: DelegateRequest): Promise<TokenResponse>;
  async delegate(
    target: DelegateRequest | SubAgent,
    options: { scope?: string; resource?: string } = {},
  ): Promise<TokenResponse | DelegatedAgent> {
    if (!("subAgentId" in target)) {
      const agentId = target.agentId;
      const privateJwk = target instanceof DeputyAgent ? keys.get(target) : target.privateJwk;
      if (privateJwk === undefined) throw new TypeError("delegate() needs the sub-agent's private key");
      const request: DelegateRequest = { subAgentId: agentId, subAgentPrivateJwk: privateJwk };
      if (options.scope !== undefined) request.scope = options.scope;
      if (options.resource !== undefined) request.resource = options.resource;
      const mint = () => this.#delegateOnce(request);
      return new DelegatedAgent({
        agentId,
        privateJwk,
        request: options,
        mint,
        fetch: this.#fetch,
        first: await mint(),
      });
    }
    return this.#delegateOnce(target);
  }

  async #delegateOnce(request: DelegateRequest): Promise<TokenResponse> {
    const subjectToken =
      request.subjectToken ??
      (await this.getToken(request.resource === undefined ? {} : { resource: request.resource }))
        .access_token;
    let actorToken = request.actorToken;
    if (actorToken === undefined) {
      if (request.subAgentPrivateJwk === undefined) {
        throw new TypeError("delegate() needs the sub-agent's actorToken or its subAgentPrivateJwk");
      }
      actorToken = await createActorToken({
        agentId: request.subAgentId,
        privateJwk: request.subAgentPrivateJwk,
        audience: this.issuer,
      });
    }
    const params: Record<string, string> = {
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
      subject_token: subjectToken,
      subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      actor_token: actorToken,
      actor_token_type: TOKEN_TYPE_JWT,
      requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
    };
    if (request.scope !== undefined) params.scope = request.scope;
    if (request.resource !== undefined) params.resource = request.resource;
    // The delegated token is bound to the sub-agent's key, so only that key can make its DPoP proof.
    return this.#postToken(params, request.subAgentPrivateJwk);
  }

  /** POSTs to the token endpoint, retrying once with the server's DPoP nonce (RFC 9449 §8). */
  async #postToken(params: Record<string, string>, dpopKey: JWK | undefined): Promise<TokenResponse> {
    for (let attempt = 0; ; attempt++) {
      const form = new URLSearchParams(params);
      form.set("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER);
      form.set(
        "client_assertion",
        await createClientAssertion({
          agentId: this.agentId,
          privateJwk: this.#privateJwk,
          audience: this.issuer,
        }),
      );
      const headers: Record<string, string> = {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      };
      if (dpopKey) headers.dpop = await this.#proof(dpopKey, "POST", this.tokenEndpoint);
      const res = await this.#send(this.tokenEndpoint, { method: "POST", headers, body: form.toString() });
      this.#rememberNonce(this.tokenEndpoint, res);
      if (res.ok) return asTokenResponse(await res.json());
      const error = await DeputyClientError.fromResponse(res);
      if (error.code === "use_dpop_nonce" && dpopKey && attempt === 0 && res.headers.has("dpop-nonce"))
        continue;
      throw error;
    }
  }

  /**
   * `fetch` with this agent's token for `{scope, resource}`: sets `Authorization: DPoP <token>`
   * and a fresh DPoP proof with `ath`. Retries once when the resource asks for a DPoP nonce.
   *
   * @example
   * const res = await agent.fetch("https://api.example.com/tickets/42", { method: "GET" }, { resource: "https://api.example.com" });
   */
  async fetch(url: string | URL, init: RequestInit = {}, request: TokenRequest = {}): Promise<Response> {
    const token = await this.getToken(request);
    return dpopFetch(
      { fetch: this.#fetch, privateJwk: this.#privateJwk, nonces: this.#nonces },
      token,
      url,
      init,
    );
  }

  /**
   * Calls Deputy's own `/v1` API as this agent (the token's audience is the issuer URL, DESIGN
   * §4). Answers the parsed JSON; throws {@link DeputyClientError} on a problem response.
   *
   * @example
   * const sub = await agent.callApi("POST", "/v1/agents", { principal, name: "summarizer", parent: agent.agentId, jwks: { keys: [publicJwk] } });
   */
  async callApi<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: { scope?: string } = {},
  ): Promise<T> {
    const init: RequestInit = { method, headers: { accept: "application/json" } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { accept: "application/json", "content-type": "application/json" };
    }
    const request: TokenRequest = { resource: this.issuer };
    if (options.scope !== undefined) request.scope = options.scope;
    const res = await this.fetch(`${this.issuer}${path.startsWith("/") ? path : `/${path}`}`, init, request);
    if (!res.ok) throw await DeputyClientError.fromResponse(res);
    const text = await res.text();
    return (text.length > 0 ? JSON.parse(text) : undefined) as T;
  }

  async #proof(key: JWK, htm: string, url: string, accessToken?: string): Promise<string> {
    const nonce = this.#nonces.get(new URL(url).origin);
    return createDpopProof({
      privateJwk: key,
      htm,
      htu: htuOf(url),
      ...(accessToken !== undefined ? { accessToken } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
    });
  }

  #rememberNonce(url: string, res: Response): void {
    const nonce = res.headers.get("dpop-nonce");
    if (nonce) this.#nonces.set(new URL(url).origin, nonce);
  }

  async #send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(url, init);
    } catch (e) {
      throw new DeputyClientError(
        0,
        "ERR_NETWORK",
        `could not reach ${new URL(url).origin}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
}
