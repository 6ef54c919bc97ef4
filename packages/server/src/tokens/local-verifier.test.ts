import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodeJwt, getToken } from "../test-support/oauth.js";
import {
  createTestDeputy,
  expectOk,
  type Story,
  setupStory,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";
import { LocalTokenVerifier } from "./local-verifier.js";

let t: TestDeputy;
let s: Story;
let v: LocalTokenVerifier;
beforeEach(async () => {
  t = await createTestDeputy();
  s = await setupStory(t);
  const d = t.deputy;
  v = new LocalTokenVerifier(
    {
      issuer: d.urls.issuer,
      now: () => d.clock.now(),
      resolveKey: (k) => d.keys.publicKey(k),
      revocations: d.revocations,
    },
    TEST_RESOURCE,
  );
});
afterEach(async () => t.close());

describe("LocalTokenVerifier", () => {
  it("verifies, then refuses once the agent is revoked in this process", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    expect(v.verify(token).client_id).toBe(s.agent);
    expect(v.verify(token).client_id).toBe(s.agent); // cached path
    await expectOk(t.api("POST", `/v1/agents/${s.agent}/revoke`, {}));
    expect(() => v.verify(token)).toThrow(/revoked/);
  });

  it("refuses a revoked token id, and expired tokens even from the cache", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const other = await getToken(t, s.agent, s.agentKey);
    v.verify(token);
    v.verify(other);
    await expectOk(t.api("POST", "/v1/revocations", { target: decodeJwt(token).payload.jti }));
    expect(() => v.verify(token)).toThrow(/revoked/);
    expect(v.verify(other).jti).toBe(decodeJwt(other).payload.jti);
    t.clock.advance(310_000);
    expect(() => v.verify(other)).toThrow();
  });

  it("refuses tokens for another audience", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const wrong = new LocalTokenVerifier(
      {
        issuer: t.deputy.urls.issuer,
        now: () => t.clock.now(),
        resolveKey: (k) => t.deputy.keys.publicKey(k),
        revocations: t.deputy.revocations,
      },
      "https://elsewhere.test",
    );
    expect(() => wrong.verify(token)).toThrow();
  });
});
