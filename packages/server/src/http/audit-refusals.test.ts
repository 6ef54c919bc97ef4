/**
 * The refusal throttle at the wire (audit/refusal-throttle.ts), on whichever store the run selects:
 * an unauthenticated flood (unknown enrollment codes, bad challenges, failed client
 * authentication, bad bearer tokens) audits the first few refusals per client address and window,
 * then one `audit.refusals_suppressed` entry with the count; authenticated refusals are each an
 * entry. Attacks by name: refusal-flood.
 */
import { afterEach, describe, expect, it } from "vitest";
import { clientAssertion, testKey } from "../test-support/keys.js";
import { clientCredentials, nowS } from "../test-support/oauth.js";
import { PROVISIONING_TEST_SETTINGS } from "../test-support/provisioning.js";
import {
  createTestDeputy,
  expectOk,
  setupStory,
  T0,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

const LIMIT = 3;
const WINDOW_S = 60;
const FLOODER = "203.0.113.9";
const OTHER = "198.51.100.4";

let t: TestDeputy;
afterEach(async () => {
  await t?.close();
});

async function deputy(): Promise<TestDeputy> {
  t = await createTestDeputy({
    ...PROVISIONING_TEST_SETTINGS,
    auditRefusalsPerWindow: LIMIT,
    auditRefusalWindow: WINDOW_S,
  });
  return t;
}

const enrollUnknown = (remoteAddress: string, n: number) =>
  t.app.inject({
    method: "POST",
    url: "/v1/agents/enroll",
    remoteAddress,
    headers: { "content-type": "application/json" },
    payload: JSON.stringify({
      enrollment_code: `den_guess${n}`,
      name: "x",
      jwks: { keys: [testKey(40).publicJwk] },
    }),
  });

/** A client assertion for `agent` signed by a key it never registered, from FLOODER. */
const forgedAssertion = (agent: string, jti: string) =>
  t.app.inject({
    method: "POST",
    url: "/oauth/token",
    remoteAddress: FLOODER,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: clientAssertion(testKey(42), agent, nowS(t), { jti }),
    }).toString(),
  });

async function entries(action: string): Promise<Array<{ entry: Record<string, any> }>> {
  return (await expectOk(t.api("GET", `/v1/audit/events?action=${action}&limit=200`))).items;
}

describe("refusal-flood", () => {
  it("unknown enrollment codes: the first N per address and window are audited, the rest summarised once the window closes", async () => {
    await deputy();
    for (let n = 0; n < 10; n++) {
      const r = await enrollUnknown(FLOODER, n);
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({
        type: "enrollment-code-invalid",
        title: "Unknown enrollment code",
        status: 401,
        detail: "unknown enrollment code",
        code: "ERR_ENROLLMENT_CODE_INVALID",
      });
    }
    // Another address has its own allowance.
    expect((await enrollUnknown(OTHER, 99)).statusCode).toBe(401);
    const refused = await entries("agent.enroll_refused");
    expect(refused.map((i) => i.entry.details.remote)).toEqual([FLOODER, FLOODER, FLOODER, OTHER]);
    expect(await entries("audit.refusals_suppressed")).toEqual([]);

    // The window closes; the next refusal from anywhere writes the summary first.
    t.clock.advance(WINDOW_S * 1000);
    expect((await enrollUnknown(FLOODER, 10)).statusCode).toBe(401);
    // One entry per refusal: the enrollment audits its own, so the HTTP layer adds no
    // `request.denied` for the same 401.
    const summaries = await entries("audit.refusals_suppressed");
    expect(summaries.map((i) => i.entry.details.refused_action)).toEqual(["agent.enroll_refused"]);
    expect(await entries("request.denied")).toEqual([]);
    const enroll = summaries.find((i) => i.entry.details.refused_action === "agent.enroll_refused");
    expect(enroll?.entry).toMatchObject({
      decision: "denied",
      actor: { agent: null, chain: [], principal: null, kind: "anonymous" },
      details: {
        refused_action: "agent.enroll_refused",
        source: FLOODER,
        suppressed: 7,
        window_start: new Date(T0).toISOString(),
        window_end: new Date(T0 + WINDOW_S * 1000).toISOString(),
        summary: `suppressed 7 similar agent.enroll_refused refusals from ${FLOODER} in the 60 s from ${new Date(T0).toISOString()}`,
      },
    });
    // A new window: the refusal after it is audited again.
    expect(await entries("agent.enroll_refused")).toHaveLength(5);
  });

  it("refusals on a real enrollment are throttled per enrollment, in its principal's trail, whatever guesses used up the address's allowance", async () => {
    await deputy();
    const s = await setupStory(t);
    const e = await expectOk(
      t.api("POST", "/v1/enrollments", {
        principal: s.principal,
        scopes: ["read"],
        resources: [TEST_RESOURCE],
        max_agents: 1,
        expires_in: 600,
      }),
    );
    for (let n = 0; n < LIMIT + 2; n++) expect((await enrollUnknown(FLOODER, n)).statusCode).toBe(401);
    const enrollReal = (seed: number) =>
      t.app.inject({
        method: "POST",
        url: "/v1/agents/enroll",
        remoteAddress: FLOODER,
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({
          enrollment_code: e.enrollment_code,
          name: `r${seed}`,
          jwks: { keys: [testKey(seed).publicJwk] },
        }),
      });
    expect((await enrollReal(41)).statusCode).toBe(201);
    for (let n = 0; n < LIMIT + 2; n++) {
      const r = await enrollReal(42 + n);
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe("ERR_ENROLLMENT_EXHAUSTED");
    }
    // The address's allowance went to the guesses; the enrollment has its own: the first LIMIT
    // refusals are entries in the principal's trail, and a leaked code cannot grow the log further.
    const onEnrollment = (await entries("agent.enroll_refused")).filter((i) => i.entry.target === e.id);
    expect(onEnrollment).toHaveLength(LIMIT);
    for (const i of onEnrollment) {
      expect(i.entry).toMatchObject({
        actor: { principal: s.principal },
        details: { error: "ERR_ENROLLMENT_EXHAUSTED" },
      });
    }
    t.clock.advance(WINDOW_S * 1000);
    await t.deputy.audit.flushRefusals();
    const summaries = (await entries("audit.refusals_suppressed")).filter(
      (i) => i.entry.details.source === `enrollment:${e.id}`,
    );
    expect(summaries.map((i) => [i.entry.actor.principal, i.entry.details.suppressed])).toEqual([
      [s.principal, 2],
    ]);
    // …and the principal finds it among their own entries.
    const mine = await expectOk(
      t.api("GET", `/v1/audit/events?principal=${s.principal}&action=audit.refusals_suppressed`),
    );
    expect(mine.items).toHaveLength(1);
  });

  it("a flood that stops is summarised by the periodic flush", async () => {
    await deputy();
    for (let n = 0; n < LIMIT + 2; n++) expect((await enrollUnknown(FLOODER, n)).statusCode).toBe(401);
    await t.deputy.audit.flushRefusals();
    expect(await entries("audit.refusals_suppressed")).toEqual([]);
    t.clock.advance(WINDOW_S * 1000);
    await t.deputy.audit.flushRefusals();
    const summaries = await entries("audit.refusals_suppressed");
    expect(summaries.map((i) => i.entry.details)).toEqual([
      expect.objectContaining({ refused_action: "agent.enroll_refused", source: FLOODER, suppressed: 2 }),
    ]);
  });

  it("bad challenges for temporary agents are throttled per address", async () => {
    await deputy();
    for (let n = 0; n < 6; n++) {
      const r = await t.app.inject({
        method: "POST",
        url: "/v1/agents/temporary",
        remoteAddress: FLOODER,
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({
          name: "stray",
          jwks: { keys: [testKey(41).publicJwk] },
          challenge: "forged",
          nonce: "0",
        }),
      });
      expect(r.statusCode).toBe(400);
      expect(r.json().code).toBe("ERR_CHALLENGE_INVALID");
    }
    expect(await entries("agent.temporary_refused")).toHaveLength(LIMIT);
  });

  it("failed client authentication at the token endpoint is throttled; an authenticated agent's refusals are each audited", async () => {
    await deputy();
    const s = await setupStory(t);
    for (let n = 0; n < 6; n++) {
      const r = await forgedAssertion(s.agent, `j${n}`);
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({
        error: "invalid_client",
        error_description: expect.any(String),
      });
    }
    expect(await entries("token.refused")).toHaveLength(LIMIT);

    // Authenticated (a valid assertion), refused for its scope: every one is an entry.
    for (let n = 0; n < 6; n++) {
      const r = await clientCredentials(t, s.agent, s.agentKey, { scope: "admin" });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toEqual({
        error: "invalid_scope",
        error_description: `scope not granted for https://api.example.test: admin`,
      });
    }
    const refused = await entries("token.refused");
    expect(refused).toHaveLength(LIMIT + 6);
    expect(refused.filter((i) => i.entry.details.error === "invalid_scope")).toHaveLength(6);
    // The forged assertions name the agent they claim to be, marked unauthenticated; the scope
    // refusals came after the agent authenticated.
    expect(refused.map((i) => `${i.entry.details.error}:${i.entry.actor.kind}`).sort()).toEqual([
      ...Array(LIMIT).fill("invalid_client:unauthenticated"),
      ...Array(6).fill("invalid_scope:agent"),
    ]);
  });

  it("a summary of forged assertions claiming agents of two principals is in neither principal's trail", async () => {
    await deputy();
    const s = await setupStory(t);
    const other = await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Bob" }));
    const otherAgent = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: other.id,
        name: "b",
        jwks: { keys: [testKey(43).publicJwk] },
      }),
    );
    const forge = async (agent: string, n: number) =>
      expect((await forgedAssertion(agent, `f${n}`)).statusCode).toBe(401);
    // The first ones claim the story's agent; the suppressed ones claim both principals' agents.
    for (let n = 0; n < LIMIT + 2; n++) await forge(s.agent, n);
    for (let n = 0; n < 2; n++) await forge(otherAgent.id, 100 + n);
    t.clock.advance(WINDOW_S * 1000);
    await t.deputy.audit.flushRefusals();
    const summaries = await entries("audit.refusals_suppressed");
    expect(summaries.map((i) => [i.entry.actor.principal, i.entry.details.suppressed])).toEqual([[null, 4]]);
    for (const principal of [s.principal, other.id]) {
      const theirs = await expectOk(
        t.api("GET", `/v1/audit/events?principal=${principal}&action=audit.refusals_suppressed`),
      );
      expect(theirs.items).toEqual([]);
    }
  });

  it("replayed-assertion: resending a captured client assertion is an unauthenticated refusal, throttled", async () => {
    await deputy();
    const s = await setupStory(t);
    const assertion = clientAssertion(s.agentKey, s.agent, nowS(t), { jti: "captured" });
    expect((await clientCredentials(t, s.agent, s.agentKey, { assertion })).statusCode).toBe(200);
    for (let n = 0; n < LIMIT + 3; n++) {
      const r = await clientCredentials(t, s.agent, s.agentKey, { assertion });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({
        error: "invalid_client",
        error_description: "client assertion jti was already used (replay)",
      });
    }
    const refused = await entries("token.refused");
    expect(refused.map((i) => i.entry.actor.kind)).toEqual(Array(LIMIT).fill("unauthenticated"));
  });

  it("bad bearer tokens at /v1 are throttled; an authenticated caller's denials are each audited", async () => {
    await deputy();
    const s = await setupStory(t);
    for (let n = 0; n < 6; n++) {
      const r = await t.app.inject({
        method: "GET",
        url: "/v1/agents",
        remoteAddress: FLOODER,
        headers: { authorization: `Bearer dpp_guess${n}` },
      });
      expect(r.statusCode).toBe(401);
      expect(r.json().code).toBe("ERR_UNAUTHENTICATED");
    }
    const anonymous = await entries("request.denied");
    expect(anonymous).toHaveLength(LIMIT);

    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    for (let n = 0; n < 6; n++) {
      const r = await t.api("POST", "/v1/resources", { audience: `https://r${n}.test`, name: "R" }, token);
      expect(r.statusCode).toBe(403);
    }
    const denied = await entries("request.denied");
    expect(denied).toHaveLength(LIMIT + 6);
    expect(denied.filter((i) => i.entry.actor.kind === "principal")).toHaveLength(6);
  });
});
