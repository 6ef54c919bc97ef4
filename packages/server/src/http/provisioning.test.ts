/**
 * Provisioning at the wire, on whichever store the run selects (SQLite, or PostgreSQL with
 * DEPUTY_TEST_DATABASE_URL): enrollments (with the max_agents race), provenance (software
 * statements), temporary agents (proof of work), claims and the sweeper. Attacks by name:
 * reused-code, racing-max-agents, expired-code, revoked-code, unknown-issuer, expired-statement,
 * bad-signature, alg-none, too-few-bits, reused-challenge, forged-challenge, expired-challenge,
 * double-claim, claim-after-expiry, sandbox-escape, ceiling-widening.
 */
import { createHash } from "node:crypto";
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "@deputy/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { leadingZeroBits, powDigest, solveChallenge, sweepTemporaryAgents } from "../provision/index.js";
import { clientAssertion, signJwt, type TestKey, testKey } from "../test-support/keys.js";
import { clientCredentials, decodeJwt, getToken, introspectAs, tokenRequest } from "../test-support/oauth.js";
import {
  PROVISIONING_TEST_SETTINGS,
  postTemporaryAgent,
  solvedChallenge,
} from "../test-support/provisioning.js";
import {
  createTestDeputy,
  expectOk,
  setupStory,
  T0,
  TEST_ISSUER,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

const OTHER_RESOURCE = "https://other.example.test";
const LAUNCHER = "https://ci.example.test";
const iso = (ms: number) => new Date(ms).toISOString();

let t: TestDeputy;
afterEach(async () => {
  await t?.close();
});

async function deputy(overrides: Record<string, unknown> = {}): Promise<TestDeputy> {
  t = await createTestDeputy({ ...PROVISIONING_TEST_SETTINGS, ...overrides });
  return t;
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return t.app.inject({
    method: "POST",
    url: path,
    headers: { "content-type": "application/json", ...headers },
    payload: JSON.stringify(body),
  });
}

async function enrollment(principal: string, extra: Record<string, unknown> = {}) {
  return expectOk(
    t.api("POST", "/v1/enrollments", {
      principal,
      scopes: ["read"],
      resources: [TEST_RESOURCE],
      max_agents: 5,
      expires_in: 3600,
      ...extra,
    }),
  );
}

function enroll(code: string, key: TestKey, extra: Record<string, unknown> = {}) {
  return post("/v1/agents/enroll", {
    enrollment_code: code,
    name: "runner",
    jwks: { keys: [key.publicJwk] },
    ...extra,
  });
}

function statement(key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const now = Math.floor(t.clock.now() / 1000);
  return signJwt(
    key,
    { typ: "JWT", kid: key.kid, ...header },
    {
      iss: LAUNCHER,
      sub: "run-42",
      software_id: "deploy-bot",
      software_version: "1.4.2",
      code_digest: "sha256:good",
      model: "claude-x",
      runtime: "node20",
      launched_by: "github-actions",
      iat: now,
      exp: now + 300,
      ...claims,
    },
  );
}

/**
 * Registers the launcher. `require_key_binding: false` (an issuer from before key binding) lets
 * tests about other checks send unbound statements; binding is tested in provisioning-attacks.test.ts.
 */
async function registerLauncher(
  key = testKey(90),
  settings: Record<string, unknown> = { require_key_binding: false },
) {
  return expectOk(
    t.api("POST", "/v1/provenance-issuers", {
      name: "CI",
      issuer: LAUNCHER,
      jwks: { keys: [key.publicJwk] },
      ...settings,
    }),
  );
}

const solved = () => solvedChallenge(t);

function temporary(key: TestKey, extra: Record<string, unknown> = {}) {
  return postTemporaryAgent(t, key, { body: extra });
}

describe("enrollments", () => {
  it("creates an enrollment (code shown once, stored hashed), enrolls an agent with its grant, and mints its first token", async () => {
    await deputy();
    const s = await setupStory(t);
    const res = await t.api("POST", "/v1/enrollments", {
      principal: s.principal,
      scopes: ["read"],
      resources: [TEST_RESOURCE],
      max_agents: 2,
      expires_in: 600,
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers["cache-control"]).toBe("no-store");
    const e = res.json();
    expect(e).toEqual({
      id: expect.stringMatching(/^enr_[a-z2-7]{26}$/),
      principal: s.principal,
      scopes: ["read"],
      resources: [TEST_RESOURCE],
      max_agents: 2,
      agents_enrolled: 0,
      require_provenance: false,
      status: "active",
      expires_at: iso(T0 + 600_000),
      created_at: iso(T0),
      revoked_at: null,
      enrollment_code: expect.stringMatching(/^den_[A-Za-z0-9_-]{43}$/),
    });
    // Shown once: never in a read, and only its SHA-256 is stored.
    const shown = await expectOk(t.api("GET", `/v1/enrollments/${e.id}`));
    expect(shown).not.toHaveProperty("enrollment_code");
    const stored = await t.deputy.store.enrollments.get(e.id);
    expect(stored?.codeHash).toBe(createHash("sha256").update(e.enrollment_code).digest("hex"));
    expect(JSON.stringify(stored)).not.toContain(e.enrollment_code);

    const key = testKey(11);
    const r = await enroll(e.enrollment_code, key, { provenance: { model: "m1" } });
    expect(r.statusCode).toBe(201);
    const body = r.json();
    expect(body.agent).toEqual({
      id: expect.stringMatching(/^agt_/),
      principal: s.principal,
      parent: null,
      chain: [],
      name: "runner",
      description: null,
      status: "active",
      provenance: { status: "self_asserted", verified: null, self_asserted: { model: "m1" } },
      enrollment: e.id,
      ceiling: { scopes: ["read"], resources: [TEST_RESOURCE] },
      temporary_until: null,
      claimed_at: null,
      created_at: iso(T0),
      revoked_at: null,
      revoke_reason: null,
    });
    expect(body.grant).toMatchObject({
      agent: body.agent.id,
      principal: s.principal,
      scopes: ["read"],
      resources: [TEST_RESOURCE],
      status: "active",
    });
    const token = await getToken(t, body.agent.id, key);
    const claims = decodeJwt(token).payload;
    expect(claims.sub).toBe(s.principal);
    expect(claims.client_id).toBe(body.agent.id);
    expect(claims.agent_prov).toEqual({ verified: false });
    expect((await expectOk(t.api("GET", `/v1/enrollments/${e.id}`))).agents_enrolled).toBe(1);

    const entries = await expectOk(t.api("GET", `/v1/audit/events?action=agent.enrolled`));
    expect(entries.items).toHaveLength(1);
    expect(entries.items[0].entry).toMatchObject({
      action: "agent.enrolled",
      actor: { agent: body.agent.id, principal: s.principal, kind: "enrollment" },
      target: body.agent.id,
      grant_id: body.grant.id,
      details: { enrollment: e.id, provenance: "self_asserted" },
    });
    expect(JSON.stringify(entries)).not.toContain(e.enrollment_code);
  });

  it("racing-max-agents: exactly max_agents of 12 parallel registrations succeed", async () => {
    await deputy();
    const s = await setupStory(t);
    const e = await enrollment(s.principal, { max_agents: 3 });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => enroll(e.enrollment_code, testKey(100 + i))),
    );
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 201)).toHaveLength(3);
    expect(codes.filter((c) => c === 409)).toHaveLength(9);
    for (const r of results.filter((x) => x.statusCode === 409)) {
      expect(r.json().code).toBe("ERR_ENROLLMENT_EXHAUSTED");
    }
    const agents = await t.deputy.store.agents.idsByEnrollment(e.id);
    expect(agents).toHaveLength(3);
    expect((await t.deputy.store.enrollments.get(e.id))?.agentsEnrolled).toBe(3);
  });

  it("reused-code, unknown-code, expired-code and revoked-code get stable errors and write nothing", async () => {
    await deputy();
    const s = await setupStory(t);
    const one = await enrollment(s.principal, { max_agents: 1 });
    expect((await enroll(one.enrollment_code, testKey(20))).statusCode).toBe(201);
    const reused = await enroll(one.enrollment_code, testKey(21));
    expect(reused.statusCode).toBe(409);
    expect(reused.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(reused.json()).toMatchObject({ status: 409, code: "ERR_ENROLLMENT_EXHAUSTED" });

    const unknown = await enroll("den_nope", testKey(22));
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().code).toBe("ERR_ENROLLMENT_CODE_INVALID");

    const short = await enrollment(s.principal, { expires_in: 60 });
    t.clock.advance(60_000);
    const expired = await enroll(short.enrollment_code, testKey(23));
    expect(expired.statusCode).toBe(410);
    expect(expired.json().code).toBe("ERR_ENROLLMENT_EXPIRED");

    const rev = await enrollment(s.principal);
    await expectOk(t.api("POST", `/v1/enrollments/${rev.id}/revoke`, {}));
    const revoked = await enroll(rev.enrollment_code, testKey(24));
    expect(revoked.statusCode).toBe(410);
    expect(revoked.json().code).toBe("ERR_ENROLLMENT_REVOKED");

    const agents = await t.deputy.store.agents.list({ principalId: s.principal }, { limit: 100 });
    expect(agents.items).toHaveLength(2); // the story's agent and the one enrolled agent
    const refused = await expectOk(t.api("GET", "/v1/audit/events?action=agent.enroll_refused"));
    expect(refused.items).toHaveLength(4);
  });

  it("a principal token creates and lists its own enrollments only; agents cannot", async () => {
    await deputy();
    const s = await setupStory(t);
    const other = await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Bob" }));
    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const mine = await t.api(
      "POST",
      "/v1/enrollments",
      { principal: s.principal, scopes: ["read"], resources: [TEST_RESOURCE], max_agents: 1, expires_in: 60 },
      token,
    );
    expect(mine.statusCode).toBe(201);
    const theirs = await t.api(
      "POST",
      "/v1/enrollments",
      { principal: other.id, scopes: ["read"], resources: [TEST_RESOURCE], max_agents: 1, expires_in: 60 },
      token,
    );
    expect(theirs.statusCode).toBe(404);
    await enrollment(other.id);
    const list = await expectOk(t.api("GET", "/v1/enrollments", undefined, token));
    expect(list.items.map((e: { id: string }) => e.id)).toEqual([mine.json().id]);
    const bad = await t.api("POST", "/v1/enrollments", {
      principal: s.principal,
      scopes: ["read"],
      resources: ["https://unregistered.test"],
      max_agents: 1,
      expires_in: 60,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe("ERR_UNKNOWN_RESOURCE");
  });

  it("ceiling-widening: later grants to an enrolled agent cannot exceed the enrollment", async () => {
    await deputy();
    const s = await setupStory(t);
    await expectOk(t.api("POST", "/v1/resources", { audience: OTHER_RESOURCE, name: "Other" }));
    const e = await enrollment(s.principal);
    const a = (await enroll(e.enrollment_code, testKey(30))).json().agent;
    const grant = (scopes: string[], resources: string[]) =>
      t.api("POST", "/v1/grants", { agent: a.id, scopes, resources, expires_at: iso(T0 + 3_600_000) });
    const wider = await grant(["read", "write"], [TEST_RESOURCE]);
    expect(wider.statusCode).toBe(400);
    expect(wider.json()).toMatchObject({ code: "ERR_AGENT_CEILING", ceiling: { scopes: ["read"] } });
    const elsewhere = await grant(["read"], [OTHER_RESOURCE]);
    expect(elsewhere.json().code).toBe("ERR_AGENT_CEILING");
    expect((await grant(["read"], [TEST_RESOURCE])).statusCode).toBe(201);
  });

  it("revoking with cascade revokes every agent it created, their grants and tokens, in one step", async () => {
    await deputy();
    const s = await setupStory(t);
    const e = await enrollment(s.principal);
    const k1 = testKey(40);
    const k2 = testKey(41);
    const a1 = (await enroll(e.enrollment_code, k1)).json().agent;
    const a2 = (await enroll(e.enrollment_code, k2)).json().agent;
    const token = await getToken(t, a1.id, k1);
    const res = await t.api("POST", `/v1/enrollments/${e.id}/revoke`, { cascade: true, reason: "leaked" });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.enrollment).toMatchObject({ id: e.id, status: "revoked", revoked_at: iso(T0) });
    expect(body.revoked).toEqual({ agents: 2, grants: 2, tokens: 1 });
    expect([...body.agents].sort()).toEqual([a1.id, a2.id].sort());
    expect((await introspectAs(t, s.resource, token)).json()).toEqual({ active: false });
    expect((await expectOk(t.api("GET", `/v1/agents/${a2.id}`))).status).toBe("revoked");
    // The story's own agent is untouched.
    expect((await expectOk(t.api("GET", `/v1/agents/${s.agent}`))).status).toBe("active");
    const refused = await clientCredentials(t, a2.id, k2);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error).toBe("invalid_client");
    // Verifiers hear of it like any other cascade: one revocation event, token ids included.
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    const events = await t.deputy.store.revocationEvents.after(0, 100);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ target: e.id, reason: "leaked", at: T0 });
    expect([...events[0]!.cascade.agents].sort()).toEqual([a1.id, a2.id].sort());
    expect(events[0]!.cascade.grants).toHaveLength(2);
    expect(events[0]!.cascade.tokens).toEqual([{ id: claims.jti, exp: claims.exp }]);
  });
});

describe("provenance", () => {
  it("a verified software statement is kept apart from self-asserted fields and reaches the token", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    const issuer = await registerLauncher(launcher, {}); // binding required by default
    expect(issuer).toEqual({
      id: expect.stringMatching(/^pvi_/),
      name: "CI",
      issuer: LAUNCHER,
      jwks: { keys: [{ ...launcher.publicJwk, kid: launcher.kid, alg: "EdDSA" }] },
      require_key_binding: true,
      created_at: iso(T0),
    });
    const e = await enrollment(s.principal, { require_provenance: true });
    const key = testKey(50);
    const r = await enroll(e.enrollment_code, key, {
      provenance: {
        software_statement: statement(launcher, { cnf: { jkt: key.kid } }),
        model: "claimed-model",
      },
    });
    expect(r.statusCode).toBe(201);
    const nowS = Math.floor(T0 / 1000);
    expect(r.json().agent.provenance).toEqual({
      status: "verified",
      verified: {
        iss: LAUNCHER,
        sub: "run-42",
        software_id: "deploy-bot",
        software_version: "1.4.2",
        code_digest: "sha256:good",
        model: "claude-x",
        runtime: "node20",
        launched_by: "github-actions",
        iat: nowS,
        exp: nowS + 300,
        bound: true,
      },
      self_asserted: { model: "claimed-model" },
    });
    const token = await getToken(t, r.json().agent.id, key);
    expect(decodeJwt(token).payload.agent_prov).toEqual({
      verified: true,
      iss: LAUNCHER,
      code_digest: "sha256:good",
      bound: true,
    });
  });

  it("unknown-issuer, expired-statement, bad-signature and alg-none statements are refused; require_provenance holds", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher);
    const e = await enrollment(s.principal, { require_provenance: true });
    const attempt = (prov: Record<string, unknown> | undefined, seed: number) =>
      enroll(e.enrollment_code, testKey(seed), prov ? { provenance: prov } : {});

    const unknown = await attempt(
      { software_statement: statement(launcher, { iss: "https://evil.test" }) },
      60,
    );
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().code).toBe("ERR_STATEMENT_UNKNOWN_ISSUER");

    const nowS = Math.floor(T0 / 1000);
    const expired = await attempt(
      { software_statement: statement(launcher, { iat: nowS - 600, exp: nowS - 300 }) },
      61,
    );
    expect(expired.json().code).toBe("ERR_STATEMENT_EXPIRED");

    const forged = statement(testKey(91), {}, { kid: launcher.kid });
    const badSig = await attempt({ software_statement: forged }, 62);
    expect(badSig.statusCode).toBe(400);
    expect(badSig.json()).toMatchObject({
      code: "ERR_STATEMENT_INVALID",
      detail: expect.stringMatching(/signature/),
    });

    const payload = decodeJwt(statement(launcher)).payload;
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.`;
    const algNone = await attempt({ software_statement: none }, 63);
    expect(algNone.json().code).toBe("ERR_STATEMENT_INVALID");

    const selfOnly = await attempt({ model: "trust me" }, 64);
    expect(selfOnly.statusCode).toBe(400);
    expect(selfOnly.json().code).toBe("ERR_PROVENANCE_REQUIRED");

    expect((await t.deputy.store.enrollments.get(e.id))?.agentsEnrolled).toBe(0);
  });

  it("POST /v1/agents verifies statements too, and resources can demand verified provenance or a digest allow-list", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher);
    const strict = "https://strict.example.test";
    const pinned = "https://pinned.example.test";
    await expectOk(t.api("POST", "/v1/resources", { audience: strict, name: "S", require_provenance: true }));
    const pinnedRes = await t.api("POST", "/v1/resources", {
      audience: pinned,
      name: "P",
      code_digests: ["sha256:good"],
    });
    expect(pinnedRes.json()).toMatchObject({ require_provenance: false, code_digests: ["sha256:good"] });

    const make = async (seed: number, provenance?: (key: TestKey) => Record<string, unknown>) => {
      const key = testKey(seed);
      const a = await expectOk(
        t.api("POST", "/v1/agents", {
          principal: s.principal,
          name: `a${seed}`,
          jwks: { keys: [key.publicJwk] },
          ...(provenance ? { provenance: provenance(key) } : {}),
        }),
      );
      await expectOk(
        t.api("POST", "/v1/grants", {
          agent: a.id,
          scopes: ["read"],
          resources: [strict, pinned],
          expires_at: iso(T0 + 3_600_000),
        }),
      );
      return { id: a.id as string, key };
    };
    const bound = (key: TestKey, claims: Record<string, unknown> = {}) => ({
      software_statement: statement(launcher, { cnf: { jkt: key.kid }, ...claims }),
    });
    const plain = await make(70, () => ({ model: "self" }));
    const good = await make(71, (key) => bound(key));
    const bad = await make(72, (key) => bound(key, { code_digest: "sha256:bad" }));

    const refusedStrict = await clientCredentials(t, plain.id, plain.key, { resource: strict });
    expect(refusedStrict.statusCode).toBe(400);
    expect(refusedStrict.json()).toEqual({
      error: "invalid_target",
      error_description: `resource ${strict} requires verified provenance; agent ${plain.id} has only self-asserted provenance`,
    });
    expect((await clientCredentials(t, good.id, good.key, { resource: strict })).statusCode).toBe(200);
    expect((await clientCredentials(t, good.id, good.key, { resource: pinned })).statusCode).toBe(200);
    const refusedPinned = await clientCredentials(t, bad.id, bad.key, { resource: pinned });
    expect(refusedPinned.json()).toEqual({
      error: "invalid_target",
      error_description: `code_digest sha256:bad of agent ${bad.id} is not on the allow-list of resource ${pinned}`,
    });
    const shown = await expectOk(t.api("GET", `/v1/agents/${bad.id}`));
    expect(shown.provenance.status).toBe("verified");
  });

  it("PATCH /v1/resources/{id} changes provenance requirements for tokens issued from then on", async () => {
    await deputy();
    const s = await setupStory(t);
    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const patch = (body: unknown, as?: string) => t.api("PATCH", `/v1/resources/${s.resource.id}`, body, as);
    expect((await clientCredentials(t, s.agent, s.agentKey)).statusCode).toBe(200);
    const on = await patch({ require_provenance: true });
    expect(on.statusCode).toBe(200);
    expect(on.json()).toMatchObject({ id: s.resource.id, require_provenance: true, code_digests: null });
    const refused = await clientCredentials(t, s.agent, s.agentKey);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe("invalid_target");
    expect((await patch({ require_provenance: false, code_digests: ["sha256:x"] })).json()).toMatchObject({
      require_provenance: false,
      code_digests: ["sha256:x"],
    });
    expect((await clientCredentials(t, s.agent, s.agentKey)).statusCode).toBe(400);
    expect((await patch({ code_digests: null })).json().code_digests).toBeNull();
    expect((await clientCredentials(t, s.agent, s.agentKey)).statusCode).toBe(200);
    const empty = await patch({});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe("ERR_INVALID_REQUEST");
    expect((await patch({ require_provenance: true }, token)).statusCode).toBe(403);
    expect((await t.api("PATCH", "/v1/resources/res_nope", { require_provenance: true })).statusCode).toBe(
      404,
    );
    const updates = await expectOk(t.api("GET", "/v1/audit/events?action=resource.updated"));
    expect(updates.items).toHaveLength(3);
  });

  it("leaked-unbound-statement: a grandfathered issuer's unbound statement passes neither code_digests nor require_provenance unless the resource accepts unbound provenance", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher); // require_key_binding: false, as migration 006 left older issuers
    const strict = "https://strict.example.test";
    const pinned = "https://pinned.example.test";
    await expectOk(t.api("POST", "/v1/resources", { audience: strict, name: "S", require_provenance: true }));
    const pinnedRes = await expectOk(
      t.api("POST", "/v1/resources", { audience: pinned, name: "P", code_digests: ["sha256:good"] }),
    );
    expect(pinnedRes.accept_unbound_provenance).toBe(false);
    // Anyone holding the launcher's statement (a CI log) registers an agent of their own with it.
    const key = testKey(73);
    const thief = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        name: "thief",
        jwks: { keys: [key.publicJwk] },
        provenance: { software_statement: statement(launcher) },
      }),
    );
    expect(thief.provenance.verified).toMatchObject({ code_digest: "sha256:good", bound: false });
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: thief.id,
        scopes: ["read"],
        resources: [strict, pinned, TEST_RESOURCE],
        expires_at: iso(T0 + 3_600_000),
      }),
    );
    for (const audience of [strict, pinned]) {
      const refused = await clientCredentials(t, thief.id, key, { resource: audience });
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toEqual({
        error: "invalid_target",
        error_description: `resource ${audience} accepts only provenance bound to the agent's key; the software statement of agent ${thief.id} from ${LAUNCHER} was not bound (cnf.jkt)`,
      });
    }
    // A resource without provenance requirements gets the token; agent_prov tells it the label is unbound.
    const open = await getToken(t, thief.id, key);
    expect(decodeJwt(open).payload.agent_prov).toEqual({
      verified: true,
      iss: LAUNCHER,
      code_digest: "sha256:good",
      bound: false,
    });
    // An operator who keeps a launcher that cannot bind opts the resource in, explicitly.
    const patched = await t.api("PATCH", `/v1/resources/${pinnedRes.id}`, {
      accept_unbound_provenance: true,
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ code_digests: ["sha256:good"], accept_unbound_provenance: true });
    expect((await clientCredentials(t, thief.id, key, { resource: pinned })).statusCode).toBe(200);
    expect((await clientCredentials(t, thief.id, key, { resource: strict })).statusCode).toBe(400);
    const updated = await expectOk(t.api("GET", "/v1/audit/events?action=resource.updated"));
    expect(updated.items[0].entry.details).toEqual({
      require_provenance: false,
      code_digests: ["sha256:good"],
      accept_unbound_provenance: true,
    });
  });

  it("a delegated (token-exchange) token also meets the resource's provenance requirement", async () => {
    await deputy();
    const s = await setupStory(t, { depth: 2 });
    const launcher = testKey(90);
    await registerLauncher(launcher);
    const strict = "https://strict.example.test";
    await expectOk(t.api("POST", "/v1/resources", { audience: strict, name: "S", require_provenance: true }));
    const make = async (seed: number, parentId: string | null, provenance?: Record<string, unknown>) => {
      const key = testKey(seed);
      const a = await expectOk(
        t.api("POST", "/v1/agents", {
          principal: s.principal,
          name: `a${seed}`,
          jwks: { keys: [key.publicJwk] },
          ...(parentId ? { parent: parentId } : {}),
          ...(provenance ? { provenance } : {}),
        }),
      );
      return { id: a.id as string, key };
    };
    const parentAgent = await make(130, null, {
      software_statement: statement(launcher, { cnf: { jkt: testKey(130).kid } }),
    });
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: parentAgent.id,
        scopes: ["read"],
        resources: [strict],
        expires_at: iso(T0 + 3_600_000),
        max_delegation_depth: 1,
      }),
    );
    const plainSub = await make(131, parentAgent.id, { model: "self" });
    const verifiedSub = await make(132, parentAgent.id, {
      software_statement: statement(launcher, { sub: "run-43", cnf: { jkt: testKey(132).kid } }),
    });
    const parentToken = await getToken(t, parentAgent.id, parentAgent.key, { resource: strict });
    const exchange = (sub: { id: string; key: TestKey }) => {
      const now = Math.floor(t.clock.now() / 1000);
      return tokenRequest(t, {
        grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
        client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
        client_assertion: clientAssertion(parentAgent.key, parentAgent.id, now),
        subject_token: parentToken,
        subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        actor_token: signJwt(
          sub.key,
          { typ: "JWT", kid: sub.key.kid },
          { iss: sub.id, sub: sub.id, aud: TEST_ISSUER, jti: `j-${sub.id}`, iat: now, exp: now + 60 },
        ),
        actor_token_type: TOKEN_TYPE_JWT,
      });
    };
    const refused = await exchange(plainSub);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({
      error: "invalid_target",
      error_description: `resource ${strict} requires verified provenance; agent ${plainSub.id} has only self-asserted provenance`,
    });
    const ok = await exchange(verifiedSub);
    expect(ok.statusCode).toBe(200);
    expect(decodeJwt(ok.json().access_token).payload.agent_prov).toEqual({
      verified: true,
      iss: LAUNCHER,
      code_digest: "sha256:good",
      bound: true,
    });
  });

  it("only the admin registers provenance issuers; an issuer is registered once", async () => {
    await deputy();
    const s = await setupStory(t);
    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const body = { name: "CI", issuer: LAUNCHER, jwks: { keys: [testKey(90).publicJwk] } };
    expect((await t.api("POST", "/v1/provenance-issuers", body, token)).statusCode).toBe(403);
    expect((await t.api("POST", "/v1/provenance-issuers", body)).statusCode).toBe(201);
    const again = await t.api("POST", "/v1/provenance-issuers", body);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe("ERR_CONFLICT");
    const priv = await t.api("POST", "/v1/provenance-issuers", {
      ...body,
      issuer: "https://x.test",
      jwks: { keys: [testKey(92).privateKey.export({ format: "jwk" })] },
    });
    expect(priv.statusCode).toBe(400);
    expect(priv.json().code).toBe("ERR_PRIVATE_KEY_MEMBERS");
  });
});

describe("provenance issuer key rotation", () => {
  it("replacing an issuer's key set refuses statements signed by the withdrawn key and accepts the new one", async () => {
    await deputy();
    const s = await setupStory(t);
    const oldKey = testKey(90);
    const newKey = testKey(93);
    const issuer = await registerLauncher(oldKey);
    const e = await enrollment(s.principal, { require_provenance: true });
    const attempt = (launcher: TestKey, seed: number) =>
      enroll(e.enrollment_code, testKey(seed), { provenance: { software_statement: statement(launcher) } });

    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const rotation = { jwks: { keys: [newKey.publicJwk] } };
    expect((await t.api("PATCH", `/v1/provenance-issuers/${issuer.id}`, rotation, token)).statusCode).toBe(
      403,
    );
    const rotated = await t.api("PATCH", `/v1/provenance-issuers/${issuer.id}`, rotation);
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json()).toEqual({
      ...issuer,
      jwks: { keys: [{ ...newKey.publicJwk, kid: newKey.kid, alg: "EdDSA" }] },
    });

    // A leaked statement signed by the withdrawn key no longer registers anyone.
    const withdrawn = await attempt(oldKey, 70);
    expect(withdrawn.statusCode).toBe(400);
    expect(withdrawn.json()).toEqual({
      type: "statement-invalid",
      title: "Invalid software statement",
      status: 400,
      detail: "software_statement: no key of the issuer matches its kid and alg",
      code: "ERR_STATEMENT_INVALID",
    });
    expect((await attempt(newKey, 71)).statusCode).toBe(201);

    const updates = (await expectOk(t.api("GET", "/v1/audit/events?action=provenance_issuer.updated"))).items;
    expect(updates.map((i: { entry: Record<string, any> }) => i.entry.details)).toEqual([
      { issuer: LAUNCHER, require_key_binding: false, keys: [newKey.kid] },
    ]);
  });

  it("an empty change, an empty key set or a private key is refused; nothing changes", async () => {
    await deputy();
    await setupStory(t);
    const issuer = await registerLauncher(testKey(90));
    const empty = await t.api("PATCH", `/v1/provenance-issuers/${issuer.id}`, {});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe("ERR_INVALID_REQUEST");
    const none = await t.api("PATCH", `/v1/provenance-issuers/${issuer.id}`, { jwks: { keys: [] } });
    expect(none.statusCode).toBe(400);
    expect(none.json().code).toBe("ERR_INVALID_REQUEST");
    const priv = await t.api("PATCH", `/v1/provenance-issuers/${issuer.id}`, {
      jwks: { keys: [testKey(92).privateKey.export({ format: "jwk" })] },
    });
    expect(priv.statusCode).toBe(400);
    expect(priv.json().code).toBe("ERR_PRIVATE_KEY_MEMBERS");
    const unknown = await t.api("PATCH", "/v1/provenance-issuers/pvi_aaaaaaaaaaaaaaaaaaaaaaaaaa", {
      jwks: { keys: [testKey(93).publicJwk] },
    });
    expect(unknown.statusCode).toBe(404);
    expect(await expectOk(t.api("GET", `/v1/provenance-issuers/${issuer.id}`))).toEqual(issuer);
  });
});

describe("removing a provenance issuer", () => {
  it("refuses its statements from then on, keeps the agents it vouched for, and is audited", async () => {
    await deputy();
    const s = await setupStory(t);
    const key = testKey(90);
    const issuer = await registerLauncher(key);
    const e = await enrollment(s.principal, { require_provenance: true });
    const attempt = (seed: number) =>
      enroll(e.enrollment_code, testKey(seed), { provenance: { software_statement: statement(key) } });
    const vouched = await attempt(70);
    expect(vouched.statusCode).toBe(201);

    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const forbidden = await t.api("DELETE", `/v1/provenance-issuers/${issuer.id}`, undefined, token);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe("ERR_FORBIDDEN");
    const removed = await t.api("DELETE", `/v1/provenance-issuers/${issuer.id}`);
    expect(removed.statusCode).toBe(204);
    expect(removed.body).toBe("");
    expect((await t.api("GET", `/v1/provenance-issuers/${issuer.id}`)).statusCode).toBe(404);
    expect((await t.api("DELETE", `/v1/provenance-issuers/${issuer.id}`)).statusCode).toBe(404);

    const refused = await attempt(71);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({
      code: "ERR_STATEMENT_UNKNOWN_ISSUER",
      detail: `software_statement issuer ${LAUNCHER} is not registered (POST /v1/provenance-issuers)`,
    });
    // The agent registered before keeps the provenance verified then.
    const agent = await expectOk(t.api("GET", `/v1/agents/${vouched.json().agent.id}`));
    expect(agent.provenance.status).toBe("verified");

    const entries = (await expectOk(t.api("GET", "/v1/audit/events?action=provenance_issuer.removed"))).items;
    expect(entries.map((i: { entry: Record<string, any> }) => [i.entry.target, i.entry.details])).toEqual([
      [issuer.id, { issuer: LAUNCHER, keys: [key.kid] }],
    ]);
    // The issuer URL can be registered again.
    expect((await registerLauncher(key)).issuer).toBe(LAUNCHER);
  });
});

describe("an issuer changed while an agent registers (the statement was verified before the transaction)", () => {
  /** Runs `change` once, just before the next store transaction (the registering one) begins. */
  function beforeNextTransaction(change: () => Promise<unknown>): void {
    const store = t.deputy.store;
    const original = store.transaction.bind(store);
    store.transaction = (async (fn: Parameters<typeof original>[0]) => {
      store.transaction = original;
      await change();
      return original(fn);
    }) as typeof store.transaction;
  }

  async function race(
    change: (issuerId: string) => Promise<unknown>,
    issuerSettings?: Record<string, unknown>,
  ) {
    await deputy();
    const s = await setupStory(t);
    const key = testKey(90);
    const issuer = await registerLauncher(key, issuerSettings);
    const e = await enrollment(s.principal, { require_provenance: true });
    beforeNextTransaction(() => change(issuer.id));
    const res = await enroll(e.enrollment_code, testKey(70), {
      provenance: { software_statement: statement(key, { jti: "launch-1" }) },
    });
    const enrolled = (await expectOk(t.api("GET", `/v1/enrollments/${e.id}`))).agents_enrolled;
    return { res, enrolled };
  }

  /** The registration was refused with this problem, and the enrollment registered no agent. */
  function expectRefused(r: Awaited<ReturnType<typeof race>>, code: string, detail: string) {
    expect(r.enrolled).toBe(0);
    expect(r.res.statusCode).toBe(400);
    expect(r.res.json()).toMatchObject({ code, detail });
  }

  it("removed: refused as from an unknown issuer, and no agent registers", async () => {
    expectRefused(
      await race((id) => t.deputy.store.provenanceIssuers.remove(id)),
      "ERR_STATEMENT_UNKNOWN_ISSUER",
      "software_statement issuer was removed while this agent registered",
    );
  });

  it("its signing key replaced: refused, and no agent registers", async () => {
    expectRefused(
      await race((id) =>
        t.deputy.store.provenanceIssuers.update(id, { jwks: { keys: [testKey(91).publicJwk] } }),
      ),
      "ERR_STATEMENT_INVALID",
      "software_statement: the issuer's key that signed it was removed while this agent registered",
    );
  });

  it("key binding required meanwhile: an unbound statement is refused, and no agent registers", async () => {
    expectRefused(
      await race((id) => t.deputy.store.provenanceIssuers.update(id, { requireKeyBinding: true })),
      "ERR_STATEMENT_INVALID",
      `software_statement is not bound to the agent's key: issuer ${LAUNCHER} requires cnf.jkt (the RFC 7638 thumbprint of the agent's public key)`,
    );
  });

  it("unchanged: the registration goes through", async () => {
    const { res, enrolled } = await race(async () => {});
    expect(enrolled).toBe(1);
    expect(res.statusCode).toBe(201);
    expect(res.json().agent.provenance.status).toBe("verified");
  });
});

describe("temporary agents", () => {
  it("a solved challenge yields a sandboxed agent with a claim code; sandbox-escape is refused", async () => {
    await deputy();
    await setupStory(t);
    await expectOk(t.api("POST", "/v1/resources", { audience: OTHER_RESOURCE, name: "Other" }));
    const c = await t.app.inject({ method: "GET", url: "/v1/agents/temporary/challenge" });
    expect(c.statusCode).toBe(200);
    expect(c.json()).toEqual({
      challenge: expect.stringMatching(/^pow1-\d+-8-[0-9a-f]{32}-[0-9a-f]{64}$/),
      difficulty: 8,
      expires_at: iso(T0 + 120_000),
    });
    const nonce = solveChallenge(c.json().challenge, 8);
    expect(leadingZeroBits(powDigest(c.json().challenge, nonce))).toBeGreaterThanOrEqual(8);
    const key = testKey(80);
    const res = await post("/v1/agents/temporary", {
      name: "stray",
      jwks: { keys: [key.publicJwk] },
      challenge: c.json().challenge,
      nonce,
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      agent: expect.objectContaining({
        id: expect.stringMatching(/^agt_/),
        principal: expect.stringMatching(/^prn_/),
        status: "active",
        ceiling: { scopes: ["read"], resources: [TEST_RESOURCE] },
        temporary_until: iso(T0 + 3_600_000),
        claimed_at: null,
        provenance: { status: "none", verified: null, self_asserted: null },
      }),
      grant: expect.objectContaining({
        scopes: ["read"],
        resources: [TEST_RESOURCE],
        expires_at: iso(T0 + 3_600_000),
      }),
      claim_url: `${TEST_ISSUER}/v1/claims/${body.claim_code}`,
      claim_code: expect.stringMatching(/^dcl_[A-Za-z0-9_-]{43}$/),
      expires_at: iso(T0 + 3_600_000),
    });
    const sandbox = await expectOk(t.api("GET", `/v1/principals/${body.agent.principal}`));
    expect(sandbox).toMatchObject({ type: "service", name: "Temporary agents (sandbox)" });

    expect((await clientCredentials(t, body.agent.id, key)).statusCode).toBe(200);
    const escaped = await clientCredentials(t, body.agent.id, key, { resource: OTHER_RESOURCE });
    expect(escaped.statusCode).toBe(400);
    expect(escaped.json()).toEqual({
      error: "invalid_scope",
      error_description: `resource ${OTHER_RESOURCE} is outside the sandbox of this unclaimed temporary agent (agent ${body.agent.id})`,
    });
    const widen = await t.api("POST", "/v1/grants", {
      agent: body.agent.id,
      scopes: ["read"],
      resources: [OTHER_RESOURCE],
      expires_at: iso(T0 + 1_800_000),
    });
    expect(widen.statusCode).toBe(400);
    expect(widen.json().code).toBe("ERR_AGENT_CEILING");
  });

  it("too-few-bits, reused-challenge, forged-challenge and expired-challenge are refused", async () => {
    await deputy({ powDifficulty: 12 });
    await setupStory(t);
    const c = (await t.app.inject({ method: "GET", url: "/v1/agents/temporary/challenge" })).json();
    let weak = 0;
    while (leadingZeroBits(powDigest(c.challenge, String(weak))) >= 12) weak++;
    const jwks = { keys: [testKey(81).publicJwk] };
    const tooFew = await post("/v1/agents/temporary", {
      name: "x",
      jwks,
      challenge: c.challenge,
      nonce: String(weak),
    });
    expect(tooFew.statusCode).toBe(400);
    expect(tooFew.json().code).toBe("ERR_POW_INSUFFICIENT");

    const nonce = solveChallenge(c.challenge, 12);
    expect(
      (await post("/v1/agents/temporary", { name: "x", jwks, challenge: c.challenge, nonce })).statusCode,
    ).toBe(201);
    const reused = await post("/v1/agents/temporary", {
      name: "y",
      jwks: { keys: [testKey(82).publicJwk] },
      challenge: c.challenge,
      nonce,
    });
    expect(reused.statusCode).toBe(400);
    expect(reused.json().code).toBe("ERR_CHALLENGE_REUSED");

    // Lower the difficulty in the challenge text: the MAC no longer matches.
    const forgedChallenge = c.challenge.replace(/-12-/, "-0-");
    const forged = await post("/v1/agents/temporary", {
      name: "z",
      jwks: { keys: [testKey(83).publicJwk] },
      challenge: forgedChallenge,
      nonce: "0",
    });
    expect(forged.statusCode).toBe(400);
    expect(forged.json().code).toBe("ERR_CHALLENGE_INVALID");

    const late = await solved();
    t.clock.advance(121_000);
    const expired = await post("/v1/agents/temporary", {
      name: "w",
      jwks: { keys: [testKey(84).publicJwk] },
      challenge: late.challenge,
      nonce: late.nonce,
    });
    expect(expired.json().code).toBe("ERR_CHALLENGE_EXPIRED");
    const denied = await expectOk(t.api("GET", "/v1/audit/events?action=agent.temporary_refused"));
    expect(denied.items).toHaveLength(4);
  });

  it("rate-limits temporary agents per client address", async () => {
    await deputy({ temporaryAgentsPerHour: 2 });
    await setupStory(t);
    expect((await temporary(testKey(85))).statusCode).toBe(201);
    expect((await temporary(testKey(86))).statusCode).toBe(201);
    const third = await temporary(testKey(87));
    expect(third.statusCode).toBe(429);
    expect(third.json()).toMatchObject({ code: "ERR_RATE_LIMITED", retry_after: 3600 });
    t.clock.advance(3_600_000);
    expect((await temporary(testKey(87))).statusCode).toBe(201);
  });

  it("a human claims the agent once; double-claim and claim-after-expiry are refused; the log follows the claim", async () => {
    await deputy();
    const s = await setupStory(t);
    const { token: ada } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const svc = await expectOk(t.api("POST", "/v1/principals", { type: "service", name: "bot" }));
    const { token: svcToken } = await expectOk(t.api("POST", `/v1/principals/${svc.id}/tokens`));
    const key = testKey(88);
    const tmp = (await temporary(key)).json();
    await getToken(t, tmp.agent.id, key); // acts before the claim

    expect(
      (await post(`/v1/claims/${tmp.claim_code}`, {}, { authorization: `Bearer ${svcToken}` })).statusCode,
    ).toBe(403);
    expect((await t.api("POST", `/v1/claims/${tmp.claim_code}`, {})).statusCode).toBe(403);
    const before = await expectOk(t.api("GET", "/v1/audit/events", undefined, ada));
    expect(before.items.some((i: { entry?: string }) => JSON.stringify(i).includes(tmp.agent.id))).toBe(
      false,
    );

    t.clock.advance(60_000);
    const claim = await t.api("POST", `/v1/claims/${tmp.claim_code}`, {}, ada);
    expect(claim.statusCode).toBe(200);
    expect(claim.json()).toMatchObject({
      id: tmp.agent.id,
      principal: s.principal,
      ceiling: null,
      temporary_until: null,
      claimed_at: iso(T0 + 60_000),
    });
    const twice = await t.api("POST", `/v1/claims/${tmp.claim_code}`, {}, ada);
    expect(twice.statusCode).toBe(409);
    expect(twice.json().code).toBe("ERR_CLAIM_USED");

    // The claimer sees what the agent did before the claim, and may now grant it more.
    const after = await expectOk(t.api("GET", `/v1/audit/events?agent=${tmp.agent.id}`, undefined, ada));
    const actions = after.items.map((i: Record<string, any>) => i.entry.action);
    expect(actions).toEqual(["agent.temporary_created", "token.issued"]);
    // …and under "everything done on behalf of the principal", without naming the agent.
    const mine = await expectOk(t.api("GET", "/v1/audit/events?limit=1000", undefined, ada));
    const agentActions = mine.items
      .filter((i: Record<string, any>) => i.entry.actor.agent === tmp.agent.id)
      .map((i: Record<string, any>) => i.entry.action);
    expect(agentActions).toEqual(["agent.temporary_created", "token.issued"]);
    // The same answers once the ledger integrated all of them: the agent index (written by the
    // integrator) serves them then, where entries past the tree were scanned.
    await t.deputy.ledger.integrate();
    expect((await t.deputy.store.auditTree.state()).size).toBeGreaterThan(after.items.at(-1).index);
    expect(await expectOk(t.api("GET", `/v1/audit/events?agent=${tmp.agent.id}`, undefined, ada))).toEqual(
      after,
    );
    const mineIntegrated = await expectOk(t.api("GET", "/v1/audit/events?limit=1000", undefined, ada));
    expect(
      mineIntegrated.items.filter((i: Record<string, any>) => i.entry.actor.agent === tmp.agent.id),
    ).toEqual(mine.items.filter((i: Record<string, any>) => i.entry.actor.agent === tmp.agent.id));
    const firstIndex = after.items[0].index;
    expect((await t.api("GET", `/v1/audit/entries/${firstIndex}`, undefined, ada)).statusCode).toBe(200);
    await expectOk(t.api("POST", "/v1/resources", { audience: OTHER_RESOURCE, name: "Other" }));
    const more = await t.api(
      "POST",
      "/v1/grants",
      {
        agent: tmp.agent.id,
        scopes: ["write"],
        resources: [OTHER_RESOURCE],
        expires_at: iso(T0 + 7_200_000),
      },
      ada,
    );
    expect(more.statusCode).toBe(201);
    const tok = await getToken(t, tmp.agent.id, key, { resource: OTHER_RESOURCE });
    expect(decodeJwt(tok).payload.sub).toBe(s.principal);

    const late = (await temporary(testKey(89))).json();
    t.clock.advance(3_600_000);
    const expired = await t.api("POST", `/v1/claims/${late.claim_code}`, {}, ada);
    expect(expired.statusCode).toBe(410);
    expect(expired.json().code).toBe("ERR_CLAIM_EXPIRED");
    const unknown = await t.api("POST", "/v1/claims/dcl_unknown", {}, ada);
    expect(unknown.statusCode).toBe(404);
    // The code never reaches the log, not even in a refusal.
    const all = await expectOk(t.api("GET", "/v1/audit/events?limit=1000"));
    expect(JSON.stringify(all)).not.toContain(tmp.claim_code);
    expect(JSON.stringify(all)).not.toContain("dcl_unknown");
  });

  it("the sweeper revokes and removes unclaimed agents after their window, in batches, and audits it", async () => {
    await deputy();
    const s = await setupStory(t);
    const { token: ada } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const keys = [testKey(120), testKey(121), testKey(122)];
    const made = [];
    for (const k of keys) made.push((await temporary(k)).json());
    const tok = await getToken(t, made[0].agent.id, keys[0]!);
    await expectOk(t.api("POST", `/v1/claims/${made[2].claim_code}`, {}, ada));
    expect(await sweepTemporaryAgents(t.deputy)).toBe(0); // nothing expired yet
    t.clock.advance(3_600_000);
    expect(await sweepTemporaryAgents(t.deputy, { batch: 1 })).toBe(2);
    for (const m of made.slice(0, 2)) {
      const a = await expectOk(t.api("GET", `/v1/agents/${m.agent.id}`));
      expect(a).toMatchObject({
        status: "revoked",
        revoke_reason: "temporary agent expired unclaimed",
        temporary_until: null,
      });
      expect(a.jwks.keys).toEqual([]);
    }
    expect((await expectOk(t.api("GET", `/v1/agents/${made[2].agent.id}`))).status).toBe("active");
    expect((await introspectAs(t, s.resource, tok)).json()).toEqual({ active: false });
    const swept = await expectOk(t.api("GET", "/v1/audit/events?action=agent.swept"));
    expect(swept.items).toHaveLength(2);
    // Each batch is one revocation event, so verifiers drop the swept agents too.
    const events = await t.deputy.store.revocationEvents.after(0, 100);
    expect(events.map((e) => e.target)).toEqual(["temporary-agent-sweep", "temporary-agent-sweep"]);
    expect(events.flatMap((e) => e.cascade.agents).sort()).toEqual(
      [made[0].agent.id, made[1].agent.id].sort(),
    );
    const late = await t.api("POST", `/v1/claims/${made[1].claim_code}`, {}, ada);
    expect(late.json().code).toBe("ERR_CLAIM_EXPIRED");
    expect(await sweepTemporaryAgents(t.deputy)).toBe(0);
  });
});
