/**
 * Wire helpers for OAuth tests: form posts to the token, introspection and revocation endpoints,
 * and a one-call "get me a DPoP-bound token".
 *
 * @example
 * const res = await tokenRequest(t, { grant_type: "client_credentials", ... }, proof);
 */

import { CLIENT_ASSERTION_TYPE_JWT_BEARER } from "@deputy/protocol";
import type { LightMyRequestResponse } from "fastify";
import { clientAssertion, dpopProof, type TestKey } from "./keys.js";
import { TEST_ISSUER, TEST_RESOURCE, type TestDeputy } from "./server.js";

export const TOKEN_URL = `${TEST_ISSUER}/oauth/token`;

export function nowS(t: TestDeputy): number {
  return Math.floor(t.clock.now() / 1000);
}

export function form(params: Record<string, string | string[] | undefined>): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) sp.append(k, item);
  }
  return sp.toString();
}

export function postForm(
  t: TestDeputy,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: "POST",
    url: path,
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    payload: body,
  });
}

export function tokenRequest(
  t: TestDeputy,
  params: Record<string, string | string[] | undefined>,
  dpop?: string,
): Promise<LightMyRequestResponse> {
  return postForm(t, "/oauth/token", form(params), dpop ? { dpop } : {});
}

/** client_credentials with a fresh assertion and DPoP proof (both overridable). */
export function clientCredentials(
  t: TestDeputy,
  agentId: string,
  key: TestKey,
  opts: {
    scope?: string;
    resource?: string | string[];
    dpopKey?: TestKey | null;
    assertion?: string;
    proof?: string;
  } = {},
): Promise<LightMyRequestResponse> {
  const now = nowS(t);
  const dpopKey = opts.dpopKey === undefined ? key : opts.dpopKey;
  const proof =
    opts.proof ?? (dpopKey ? dpopProof(dpopKey, { htm: "POST", htu: TOKEN_URL, iat: now }) : undefined);
  return tokenRequest(
    t,
    {
      grant_type: "client_credentials",
      client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
      client_assertion: opts.assertion ?? clientAssertion(key, agentId, now),
      scope: opts.scope,
      resource: opts.resource ?? TEST_RESOURCE,
    },
    proof,
  );
}

export async function getToken(
  t: TestDeputy,
  agentId: string,
  key: TestKey,
  opts: { scope?: string; resource?: string } = {},
): Promise<string> {
  const res = await clientCredentials(t, agentId, key, opts);
  if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`);
  return res.json().access_token;
}

export async function introspectAs(
  t: TestDeputy,
  resource: { id: string; secret: string },
  token: string,
): Promise<LightMyRequestResponse> {
  const basic = Buffer.from(`${resource.id}:${resource.secret}`).toString("base64");
  return postForm(t, "/oauth/introspect", form({ token }), { authorization: `Basic ${basic}` });
}

export function decodeJwt(jwt: string): { header: Record<string, any>; payload: Record<string, any> } {
  const [h, p] = jwt.split(".");
  return {
    header: JSON.parse(Buffer.from(h!, "base64url").toString()),
    payload: JSON.parse(Buffer.from(p!, "base64url").toString()),
  };
}
