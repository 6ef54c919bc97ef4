/**
 * Sub-agent delegation by RFC 8693 token exchange, and cascading revocation, at the wire.
 */
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "@deputy/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clientAssertion, signJwt, type TestKey, testKey } from "../test-support/keys.js";
import {
  clientCredentials,
  decodeJwt,
  getToken,
  introspectAs,
  nowS,
  tokenRequest,
} from "../test-support/oauth.js";
import {
  createTestDeputy,
  expectOk,
  type Story,
  setupStory,
  TEST_ISSUER,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

let t: TestDeputy;
let s: Story;
let sub: { id: string; key: TestKey };

beforeEach(async () => {
  t = await createTestDeputy();
  s = await setupStory(t, { depth: 2 });
  const key = testKey(10);
  const res = await expectOk(
    t.api("POST", "/v1/agents", {
      principal: s.principal,
      parent: s.agent,
      name: "sub",
      jwks: { keys: [key.publicJwk] },
    }),
  );
  sub = { id: res.id, key };
});
afterEach(async () => t.close());

function actorToken(key: TestKey, agentId: string, overrides: Record<string, unknown> = {}): string {
  const now = nowS(t);
  return signJwt(
    key,
    { typ: "JWT", kid: key.kid },
    {
      iss: agentId,
      sub: agentId,
      aud: TEST_ISSUER,
      jti: crypto.randomUUID(),
      iat: now,
      exp: now + 60,
      ...overrides,
    },
  );
}

function exchange(
  parent: { id: string; key: TestKey },
  subjectToken: string,
  actor: string,
  extra: Record<string, string | undefined> = {},
) {
  return tokenRequest(t, {
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
    client_assertion: clientAssertion(parent.key, parent.id, nowS(t)),
    subject_token: subjectToken,
    subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
    actor_token: actor,
    actor_token_type: TOKEN_TYPE_JWT,
    ...extra,
  });
}

const parent = () => ({ id: s.agent, key: s.agentKey });

describe("token exchange (sub-agent delegation)", () => {
  it("delegates a narrower token bound to the sub-agent's key, with the act chain", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    const res = await exchange(parent(), parentToken, actorToken(sub.key, sub.id), { scope: "read" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      access_token: expect.any(String),
      token_type: "DPoP",
      expires_in: 300,
      scope: "read",
      issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
    });
    const { payload } = decodeJwt(res.json().access_token);
    expect(payload).toMatchObject({
      sub: s.principal,
      client_id: sub.id,
      act: { sub: sub.id, act: { sub: s.agent } },
      aud: TEST_RESOURCE,
      scope: "read",
      cnf: { jkt: sub.key.kid },
    });
    expect(payload.exp).toBeLessThanOrEqual(decodeJwt(parentToken).payload.exp);
    // A child grant records the delegation, one hop below the parent's.
    const child = await expectOk(t.api("GET", `/v1/grants/${payload.grant_id}`));
    expect(child).toMatchObject({
      agent: sub.id,
      parent_grant: s.grant,
      scopes: ["read"],
      max_delegation_depth: 1,
    });
  });

  it("never outlives the parent token", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    t.clock.advance(200_000);
    const res = await exchange(parent(), parentToken, actorToken(sub.key, sub.id));
    expect(res.json().expires_in).toBe(100);
  });

  it("widened-scope → invalid_scope", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey, { scope: "read" });
    const res = await exchange(parent(), parentToken, actorToken(sub.key, sub.id), { scope: "read write" });
    expect([res.statusCode, res.json().error]).toEqual([400, "invalid_scope"]);
  });

  it("widened-resource → invalid_target", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    const res = await exchange(parent(), parentToken, actorToken(sub.key, sub.id), { resource: TEST_ISSUER });
    expect([res.statusCode, res.json().error]).toEqual([400, "invalid_target"]);
  });

  it("depth-exceeded: a grant with max_delegation_depth 0 cannot be delegated", async () => {
    await t.close();
    t = await createTestDeputy();
    s = await setupStory(t, { depth: 0 });
    const key = testKey(11);
    const a = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: s.agent,
        name: "sub",
        jwks: { keys: [key.publicJwk] },
      }),
    );
    const parentToken = await getToken(t, s.agent, s.agentKey);
    const res = await exchange(parent(), parentToken, actorToken(key, a.id));
    expect([res.statusCode, res.json().error]).toEqual([400, "invalid_grant"]);
  });

  it("depth is enforced down the chain: depth 1 lets the sub-agent hold but not re-delegate", async () => {
    await t.close();
    t = await createTestDeputy();
    s = await setupStory(t, { depth: 1 });
    const k1 = testKey(12);
    const k2 = testKey(13);
    const a1 = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: s.agent,
        name: "sub",
        jwks: { keys: [k1.publicJwk] },
      }),
    );
    const a2 = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: a1.id,
        name: "subsub",
        jwks: { keys: [k2.publicJwk] },
      }),
    );
    const t0 = await getToken(t, s.agent, s.agentKey);
    const r1 = await exchange(parent(), t0, actorToken(k1, a1.id));
    expect(r1.statusCode).toBe(200);
    const r2 = await exchange({ id: a1.id, key: k1 }, r1.json().access_token, actorToken(k2, a2.id));
    expect([r2.statusCode, r2.json().error]).toEqual([400, "invalid_grant"]);
  });

  it("a revoked parent token cannot be exchanged", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    // Read (and on SQLite held in memory) while active, then revoked.
    expect((await introspectAs(t, s.resource, parentToken)).json().active).toBe(true);
    const jti = decodeJwt(parentToken).payload.jti;
    await expectOk(t.api("POST", "/v1/revocations", { target: jti }));
    const res = await exchange(parent(), parentToken, actorToken(sub.key, sub.id));
    expect([res.statusCode, res.json().error]).toEqual([400, "invalid_grant"]);
  });

  it("an expired parent token cannot be exchanged", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    t.clock.advance(301_000);
    const res = await exchange(parent(), parentToken, actorToken(sub.key, sub.id));
    expect([res.statusCode, res.json().error]).toEqual([400, "invalid_grant"]);
  });

  it("the subject token must belong to the authenticated parent", async () => {
    const k = testKey(14);
    const other = await expectOk(
      t.api("POST", "/v1/agents", { principal: s.principal, name: "other", jwks: { keys: [k.publicJwk] } }),
    );
    const parentToken = await getToken(t, s.agent, s.agentKey);
    const res = await exchange({ id: other.id, key: k }, parentToken, actorToken(sub.key, sub.id));
    expect([res.statusCode, res.json().error]).toEqual([400, "invalid_grant"]);
  });

  it("the actor must be a sub-agent of the parent, signing with its own key", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    const forgedActor = actorToken(testKey(66), sub.id);
    const r1 = await exchange(parent(), parentToken, forgedActor);
    expect([r1.statusCode, r1.json().error]).toEqual([400, "invalid_grant"]);
    const k = testKey(15);
    const stranger = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        name: "stranger",
        jwks: { keys: [k.publicJwk] },
      }),
    );
    const r2 = await exchange(parent(), parentToken, actorToken(k, stranger.id));
    expect([r2.statusCode, r2.json().error]).toEqual([400, "invalid_grant"]);
  });

  it("a replayed actor token is refused", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    const actor = actorToken(sub.key, sub.id);
    expect((await exchange(parent(), parentToken, actor)).statusCode).toBe(200);
    const res = await exchange(parent(), parentToken, actor);
    expect([res.statusCode, res.json().error]).toEqual([400, "invalid_grant"]);
  });

  it("the sub-agent can then use its child grant with client_credentials, within it", async () => {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    await exchange(parent(), parentToken, actorToken(sub.key, sub.id), { scope: "read" });
    const ok = await clientCredentials(t, sub.id, sub.key, { scope: "read" });
    expect(ok.statusCode).toBe(200);
    const wider = await clientCredentials(t, sub.id, sub.key, { scope: "write" });
    expect([wider.statusCode, wider.json().error]).toEqual([400, "invalid_scope"]);
  });
});

describe("cascading revocation", () => {
  const active = async (token: string) => (await introspectAs(t, s.resource, token)).json().active;
  /**
   * A parent token and one delegated from it, both introspected as active first: on SQLite their
   * state is then held in memory (store/sql/token-cache.ts), which every revocation below must
   * reach.
   */
  async function delegated() {
    const parentToken = await getToken(t, s.agent, s.agentKey);
    const res = await exchange(parent(), parentToken, actorToken(sub.key, sub.id));
    const subToken = res.json().access_token as string;
    for (let i = 0; i < 2; i++)
      expect([await active(parentToken), await active(subToken)]).toEqual([true, true]);
    return { parentToken, subToken };
  }

  it("revoking the agent kills its tokens and every sub-agent's, and the token endpoint refuses both", async () => {
    const { parentToken, subToken } = await delegated();
    const res = await t.api("POST", `/v1/agents/${s.agent}/revoke`, { reason: "compromised" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      target: s.agent,
      revoked: { principals: 0, agents: 2, grants: 2, tokens: 2 },
      agents: expect.arrayContaining([s.agent, sub.id]),
      grants: expect.any(Array),
    });
    expect(await active(parentToken)).toBe(false);
    expect(await active(subToken)).toBe(false);
    for (const [id, key] of [
      [s.agent, s.agentKey],
      [sub.id, sub.key],
    ] as const) {
      const r = await clientCredentials(t, id, key);
      expect([r.statusCode, r.json().error]).toEqual([401, "invalid_client"]);
    }
    // The human principal is untouched.
    expect((await t.api("GET", `/v1/principals/${s.principal}`)).json().status).toBe("active");
  });

  it("revocation is monotonic: revoking twice changes nothing more", async () => {
    await delegated();
    await t.api("POST", `/v1/agents/${s.agent}/revoke`, {});
    const again = await t.api("POST", `/v1/agents/${s.agent}/revoke`, {});
    expect(again.json().revoked).toEqual({ principals: 0, agents: 0, grants: 0, tokens: 0 });
    expect((await t.api("GET", `/v1/agents/${s.agent}`)).json().status).toBe("revoked");
  });

  it("disabling the principal cascades to all its agents", async () => {
    const { parentToken, subToken } = await delegated();
    const res = await t.api("POST", `/v1/principals/${s.principal}/disable`, {});
    expect(res.json().revoked).toEqual({ principals: 1, agents: 2, grants: 2, tokens: 2 });
    expect(await active(parentToken)).toBe(false);
    expect(await active(subToken)).toBe(false);
  });

  it("revoking the grant revokes the grants delegated from it and their tokens", async () => {
    const { parentToken, subToken } = await delegated();
    const res = await t.api("POST", `/v1/grants/${s.grant}/revoke`, {});
    expect(res.json().revoked).toEqual({ principals: 0, agents: 0, grants: 2, tokens: 2 });
    expect(await active(parentToken)).toBe(false);
    expect(await active(subToken)).toBe(false);
    // The agents themselves stay active.
    expect((await t.api("GET", `/v1/agents/${s.agent}`)).json().status).toBe("active");
  });

  it("revoking a token revokes the tokens delegated from it and the delegation's grant", async () => {
    const { parentToken, subToken } = await delegated();
    const jti = decodeJwt(parentToken).payload.jti;
    const res = await t.api("POST", "/v1/revocations", { target: jti });
    expect(res.json().revoked).toEqual({ principals: 0, agents: 0, grants: 1, tokens: 2 });
    expect(await active(subToken)).toBe(false);
    const r = await clientCredentials(t, sub.id, sub.key);
    expect([r.statusCode, r.json().error]).toEqual([400, "invalid_target"]);
  });

  it("revoking a sub-agent leaves its parent working", async () => {
    const { parentToken, subToken } = await delegated();
    await t.api("POST", `/v1/agents/${sub.id}/revoke`, {});
    expect(await active(parentToken)).toBe(true);
    expect(await active(subToken)).toBe(false);
  });
});
