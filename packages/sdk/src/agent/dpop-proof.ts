/**
 * DPoP proofs (RFC 9449 §4.2): a `dpop+jwt` signed by the agent's key with the public key in the
 * header, bound to one request (`htm`, `htu`), fresh (`iat`, `jti`), and, when sent with an access
 * token, to that token (`ath`).
 *
 * @example
 * const proof = await createDpopProof({ privateJwk, htm: "POST", htu: `${issuer}/oauth/token` });
 */
import { base64url, type JWK, SignJWT } from "jose";
import { signingKey } from "./jwk.js";
import { randomId } from "./random.js";

export interface DpopProofInput {
  privateJwk: JWK;
  /** The request method, e.g. "GET". */
  htm: string;
  /** The request URL; query and fragment are dropped (RFC 9449 §4.2). */
  htu: string;
  /** The access token sent with the request: its hash becomes `ath`. */
  accessToken?: string;
  /** The server's `DPoP-Nonce` (RFC 9449 §8). */
  nonce?: string;
  /** Override "now" (epoch seconds), for tests. */
  now?: number;
}

/**
 * `ath`: base64url(SHA-256(ASCII(access token))) (RFC 9449 §4.2).
 *
 * @example
 * const ath = await accessTokenHash(token);
 */
export async function accessTokenHash(accessToken: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
  return base64url.encode(new Uint8Array(digest));
}

/** The `htu` for a URL: without query and fragment (RFC 9449 §4.2). */
export function htuOf(url: string | URL): string {
  const u = new URL(url);
  u.search = "";
  u.hash = "";
  return u.href;
}

/**
 * Signs a DPoP proof for one request.
 *
 * @example
 * const proof = await createDpopProof({ privateJwk, htm: "GET", htu: "https://api.example.com/tickets", accessToken });
 * await fetch("https://api.example.com/tickets", { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
 */
export async function createDpopProof(input: DpopProofInput): Promise<string> {
  const { key, alg, publicJwk } = await signingKey(input.privateJwk);
  const claims: Record<string, unknown> = {
    jti: randomId(),
    htm: input.htm.toUpperCase(),
    htu: htuOf(input.htu),
    iat: input.now ?? Math.floor(Date.now() / 1000),
  };
  if (input.accessToken !== undefined) claims.ath = await accessTokenHash(input.accessToken);
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  return new SignJWT(claims).setProtectedHeader({ typ: "dpop+jwt", alg, jwk: publicJwk }).sign(key);
}
