/**
 * `fetch` with a DPoP-bound access token (RFC 9449 §7.1): `Authorization: DPoP <token>` and a
 * fresh proof with `ath` per request, retrying once when the resource answers with a new
 * `DPoP-Nonce` (§9). Shared by {@link DeputyAgent} and {@link DelegatedAgent}.
 *
 * @example
 * const res = await dpopFetch({ fetch, privateJwk, nonces }, token, "https://api.example.com/x", { method: "GET" });
 */
import type { JWK } from "jose";
import { createDpopProof, htuOf } from "./dpop-proof.js";
import { DeputyClientError } from "./errors.js";
import type { TokenResponse } from "./token-response.js";

export interface DpopFetchContext {
  fetch: typeof fetch;
  privateJwk: JWK;
  /** The last `DPoP-Nonce` per origin (RFC 9449 §8, §9). */
  nonces: Map<string, string>;
}

/**
 * Sends one request with the token and a proof; see the module doc.
 *
 * @example
 * await dpopFetch(ctx, { access_token, token_type: "DPoP" }, url, init);
 */
export async function dpopFetch(
  ctx: DpopFetchContext,
  token: Pick<TokenResponse, "access_token" | "token_type">,
  url: string | URL,
  init: RequestInit = {},
): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  const origin = new URL(url).origin;
  for (let attempt = 0; ; attempt++) {
    const headers = new Headers(init.headers);
    headers.set(
      "authorization",
      `${token.token_type === "Bearer" ? "Bearer" : "DPoP"} ${token.access_token}`,
    );
    const sentNonce = ctx.nonces.get(origin);
    headers.set(
      "dpop",
      await createDpopProof({
        privateJwk: ctx.privateJwk,
        htm: method,
        htu: htuOf(url),
        accessToken: token.access_token,
        ...(sentNonce !== undefined ? { nonce: sentNonce } : {}),
      }),
    );
    let res: Response;
    try {
      res = await ctx.fetch(String(url), { ...init, method, headers });
    } catch (e) {
      throw new DeputyClientError(0, "ERR_NETWORK", `could not reach ${origin}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const fresh = res.headers.get("dpop-nonce");
    if (fresh) ctx.nonces.set(origin, fresh);
    // RFC 9449 §9: a refusal carrying a new DPoP-Nonce asks for a proof with that nonce.
    const wantsNonce = (res.status === 401 || res.status === 400) && fresh !== null && fresh !== sentNonce;
    const replayable = init.body === undefined || init.body === null || typeof init.body === "string";
    if (wantsNonce && attempt === 0 && replayable) continue;
    return res;
  }
}
