/**
 * A full story for the audit tests, through the wire: a principal (and its token), a resource,
 * an agent, a grant, a token, a sub-agent reached by token exchange (RFC 8693), a token the
 * sub-agent mints itself from the delegated grant, a refusal, an introspection, a token
 * revocation (RFC 7009) and an agent revocation. Returns every id and every secret seen, so tests
 * can look for them (or their absence) in the log.
 *
 * @example
 * const story = await runFullStory(t);
 * await t.deputy.ledger.integrate();
 */
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "@deputy/protocol";
import { clientAssertion, signJwt, type TestKey, testKey } from "../../test-support/keys.js";
import {
  clientCredentials,
  decodeJwt,
  form,
  getToken,
  introspectAs,
  nowS,
  postForm,
  tokenRequest,
} from "../../test-support/oauth.js";
import { expectOk, type Story, setupStory, TEST_ISSUER, type TestDeputy } from "../../test-support/server.js";

export interface FullStory extends Story {
  principalToken: string;
  sub: string;
  subKey: TestKey;
  /** Access tokens issued in the story (JWS compact strings). */
  tokens: string[];
  /** `jti`s of those tokens. */
  tokenIds: string[];
  /** Secrets handed out (principal token, resource secret). */
  secrets: string[];
}

export async function runFullStory(t: TestDeputy, seed = 1): Promise<FullStory> {
  const s = await setupStory(t, { seed, depth: 1 });
  const { token: principalToken } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
  const subKey = testKey(seed + 100);
  const sub = await expectOk(
    t.api("POST", "/v1/agents", {
      principal: s.principal,
      parent: s.agent,
      name: "sub",
      jwks: { keys: [subKey.publicJwk] },
    }),
  );
  const parentToken = await getToken(t, s.agent, s.agentKey);
  const now = nowS(t);
  const exchanged = await tokenRequest(t, {
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
    client_assertion: clientAssertion(s.agentKey, s.agent, now),
    subject_token: parentToken,
    subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
    actor_token: signJwt(
      subKey,
      { typ: "JWT", kid: subKey.kid },
      { iss: sub.id, sub: sub.id, aud: TEST_ISSUER, jti: `a-${seed}`, exp: now + 60 },
    ),
    actor_token_type: TOKEN_TYPE_JWT,
    scope: "read",
  });
  if (exchanged.statusCode !== 200) throw new Error(`exchange: ${exchanged.statusCode} ${exchanged.body}`);
  const subToken = exchanged.json().access_token as string;
  // The sub-agent acts on its own, from the child grant the exchange recorded.
  const own = await clientCredentials(t, sub.id, subKey, { scope: "read" });
  if (own.statusCode !== 200) throw new Error(`sub-agent token: ${own.statusCode} ${own.body}`);
  const subOwnToken = own.json().access_token as string;
  await clientCredentials(t, s.agent, s.agentKey, { scope: "forbidden" });
  await introspectAs(t, s.resource, parentToken);
  await introspectAs(t, s.resource, subToken);
  const revoked = await postForm(
    t,
    "/oauth/revoke",
    form({
      token: subOwnToken,
      client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
      client_assertion: clientAssertion(subKey, sub.id, nowS(t)),
    }),
  );
  if (revoked.statusCode !== 200) throw new Error(`revoke: ${revoked.statusCode} ${revoked.body}`);
  await expectOk(t.api("POST", `/v1/agents/${s.agent}/revoke`, { reason: "story over" }));
  const tokens = [parentToken, subToken, subOwnToken];
  return {
    ...s,
    principalToken,
    sub: sub.id,
    subKey,
    tokens,
    tokenIds: tokens.map((tok) => decodeJwt(tok).payload.jti as string),
    secrets: [principalToken, s.resource.secret],
  };
}
