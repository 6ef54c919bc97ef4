/**
 * Attribution from day one: every operation and decision lands in the audit log as one canonical
 * JSON entry naming the acting agent, its chain, the principal, the token and grant ids, the action
 * and the decision — and never a secret.
 */
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "@deputy/protocol";
import canonicalizeModule from "canonicalize";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditRecord } from "../store/index.js";
import { clientAssertion, signJwt, testKey } from "../test-support/keys.js";
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
  TEST_ADMIN_TOKEN,
  TEST_ISSUER,
  type TestDeputy,
} from "../test-support/server.js";

const canonicalize = canonicalizeModule as unknown as (v: unknown) => string;

let t: TestDeputy;
let s: Story;
beforeEach(async () => {
  t = await createTestDeputy();
  s = await setupStory(t);
});
afterEach(async () => t.close());

async function entries(): Promise<AuditRecord[]> {
  return (await t.deputy.store.audit.query({}, { limit: 1000 })).items;
}

describe("audit attribution", () => {
  it("records the whole story, each entry attributed, canonical and dense", async () => {
    const subKey = testKey(10);
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
        { iss: sub.id, sub: sub.id, aud: TEST_ISSUER, jti: "a1", exp: now + 60 },
      ),
      actor_token_type: TOKEN_TYPE_JWT,
      scope: "read",
    });
    const subToken = exchanged.json().access_token;
    await clientCredentials(t, s.agent, s.agentKey, { scope: "forbidden" });
    await introspectAs(t, s.resource, parentToken);
    await t.api("POST", `/v1/agents/${s.agent}/revoke`, { reason: "test" });

    const log = await entries();
    expect(log.map((e) => e.index)).toEqual(log.map((_, i) => i));
    for (const e of log) {
      const parsed = JSON.parse(e.entry);
      expect(canonicalize(parsed)).toBe(e.entry); // RFC 8785 bytes
      expect(parsed).toMatchObject({ v: 1, index: e.index, action: e.action, decision: e.decision });
      expect(parsed.actor).toHaveProperty("agent");
      expect(parsed.actor).toHaveProperty("chain");
      expect(parsed.actor).toHaveProperty("principal");
      expect(parsed).toHaveProperty("token_id");
      expect(parsed).toHaveProperty("grant_id");
    }
    const actions = log.map((e) => e.action);
    expect(actions).toEqual([
      "principal.created",
      "resource.created",
      "agent.created",
      "grant.created",
      "agent.created",
      "token.issued",
      "grant.delegated",
      "token.exchanged",
      "token.refused",
      "token.introspected",
      "agent.revoked",
    ]);
    const byAction = (a: string) => JSON.parse(log.find((e) => e.action === a)!.entry);
    const parentJti = decodeJwt(parentToken).payload.jti;
    const subJti = decodeJwt(subToken).payload.jti;
    expect(byAction("token.issued")).toMatchObject({
      actor: { agent: s.agent, chain: [], principal: s.principal, kind: "agent" },
      token_id: parentJti,
      grant_id: s.grant,
      decision: "allowed",
    });
    expect(byAction("token.exchanged")).toMatchObject({
      actor: { agent: s.agent, chain: [], principal: s.principal },
      target: sub.id,
      token_id: subJti,
      decision: "allowed",
      details: { sub_agent: sub.id, subject_token: parentJti },
    });
    expect(byAction("token.refused")).toMatchObject({
      // Refused for its scope after the assertion verified: an authenticated agent's decision.
      actor: { agent: s.agent, principal: s.principal, kind: "agent" },
      decision: "denied",
      details: { code: "ERR_INVALID_SCOPE", error: "invalid_scope" },
    });
    expect(byAction("token.introspected")).toMatchObject({
      actor: { agent: s.agent, principal: s.principal, kind: "resource", resource_id: s.resource.id },
      token_id: parentJti,
      decision: "allowed",
    });
    expect(byAction("agent.revoked")).toMatchObject({
      actor: { agent: null, principal: null, kind: "admin" },
      target: s.agent,
      details: { reason: "test", revoked: { agents: 2, tokens: 2 } },
    });
    // "Everything done for principal P" and "what did agent X do" are single queries.
    const forPrincipal = await t.deputy.store.audit.query({ principal: s.principal }, { limit: 100 });
    expect(forPrincipal.items.map((e) => e.action)).toEqual(
      expect.arrayContaining(["token.issued", "token.exchanged", "token.refused", "token.introspected"]),
    );
    const byAgent = await t.deputy.store.audit.query({ agent: s.agent }, { limit: 100 });
    expect(byAgent.items.every((e) => e.actorAgent === s.agent)).toBe(true);

    // No secrets, tokens or keys in any entry.
    const all = log.map((e) => e.entry).join("\n");
    for (const secret of [parentToken, subToken, s.resource.secret, TEST_ADMIN_TOKEN]) {
      expect(all).not.toContain(secret);
      expect(all).not.toContain(secret.split(".")[2] ?? secret);
    }
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/); // no JWS anywhere
    expect(all).not.toMatch(/dp[pa]_[A-Za-z0-9_-]{20,}|drs_[A-Za-z0-9_-]{20,}/);
  });

  it("refusals at /v1 are attributed decisions too (401, 403, and 404 across principals)", async () => {
    const other = await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Eve" }));
    const { token } = await expectOk(t.api("POST", `/v1/principals/${other.id}/tokens`));
    const before = (await entries()).length;
    expect((await t.api("GET", `/v1/agents/${s.agent}`, undefined, token)).statusCode).toBe(404);
    expect((await t.api("POST", "/v1/principals", { type: "human", name: "x" }, token)).statusCode).toBe(403);
    expect((await t.api("GET", "/v1/agents", undefined, "dpa_wrong")).statusCode).toBe(401);
    const denied = (await entries()).slice(before).map((e) => JSON.parse(e.entry));
    expect(denied).toEqual([
      expect.objectContaining({
        action: "request.denied",
        decision: "denied",
        actor: { agent: null, chain: [], principal: other.id, kind: "principal" },
        request: { method: "GET", url: `/v1/agents/${s.agent}` },
        details: { code: "ERR_NOT_FOUND", route: "/v1/agents/:id" },
      }),
      expect.objectContaining({
        action: "request.denied",
        actor: { agent: null, chain: [], principal: other.id, kind: "principal" },
        details: { code: "ERR_FORBIDDEN", route: "/v1/principals" },
      }),
      expect.objectContaining({
        action: "request.denied",
        actor: { agent: null, chain: [], principal: null, kind: "anonymous" },
        details: { code: "ERR_UNAUTHENTICATED", route: "/v1/agents" },
      }),
    ]);
  });

  it("a refused request leaves no partial write: only the refusal is recorded", async () => {
    const before = (await entries()).length;
    const assertion = clientAssertion(s.agentKey, s.agent, nowS(t));
    await clientCredentials(t, s.agent, s.agentKey, { assertion });
    const replay = await clientCredentials(t, s.agent, s.agentKey, { assertion });
    expect(replay.statusCode).toBe(401);
    const log = await entries();
    expect(log.slice(before).map((e) => e.action)).toEqual(["token.issued", "token.refused"]);
    const tokensForGrant = await t.deputy.store.grants.get(s.grant);
    expect(tokensForGrant?.tokensIssued).toBe(1);
  });
});
