/**
 * Provisioning attacks found in review, at the wire, on whichever store the run selects (SQLite,
 * or PostgreSQL with DEPUTY_TEST_DATABASE_URL). Attacks by name: statement-for-another-audience,
 * statement-from-the-future, statement-with-malformed-sub, oversized-provenance, self-signed-statement, crit-header,
 * claim-during-sweep, claim-by-the-wrong-caller, racing-claims, sandbox-sub-agents,
 * window-closed-before-sweep, disabled-sandbox, ipv6-address-hopping, limit-burned-without-work, ceiling-lookalikes,
 * ceiling-through-sub-agents, enroll-for-disabled-principal; and a leaked statement reused:
 * statement-bound-to-another-key, bound-statement-accepted, key-added-to-bound-agent,
 * unbound-statement-when-binding-required, unbound-statement-from-legacy-issuer, statement-replayed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { solveChallenge, sweepTemporaryAgents } from "../provision/index.js";
import type { AgentStore, Store } from "../store/index.js";
import { dpopProof, signJwt, type TestKey, testKey } from "../test-support/keys.js";
import { clientCredentials, getToken, nowS } from "../test-support/oauth.js";
import { PROVISIONING_TEST_SETTINGS, postTemporaryAgent } from "../test-support/provisioning.js";
import {
  createTestDeputy,
  expectOk,
  setupStory,
  T0,
  TEST_ISSUER,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

const LAUNCHER = "https://ci.example.test";

let t: TestDeputy;
afterEach(async () => {
  await t?.close();
});

async function deputy(overrides: Record<string, unknown> = {}): Promise<TestDeputy> {
  t = await createTestDeputy({ ...PROVISIONING_TEST_SETTINGS, ...overrides });
  return t;
}

function statement(key: TestKey, claims: Record<string, unknown> = {}) {
  const now = Math.floor(t.clock.now() / 1000);
  return signJwt(
    key,
    { typ: "JWT", kid: key.kid },
    { iss: LAUNCHER, sub: "run-42", code_digest: "sha256:good", iat: now, exp: now + 300, ...claims },
  );
}

/** Issuers registered before key binding existed (migration 006 keeps them so). */
const LEGACY = { require_key_binding: false };

async function registerLauncher(key: TestKey, settings: Record<string, unknown> = {}) {
  return expectOk(
    t.api("POST", "/v1/provenance-issuers", {
      name: "CI",
      issuer: LAUNCHER,
      jwks: { keys: [key.publicJwk] },
      ...settings,
    }),
  );
}

function registerWith(principal: string, seed: number, softwareStatement: string) {
  return t.api("POST", "/v1/agents", {
    principal,
    name: `a${seed}`,
    jwks: { keys: [testKey(seed).publicJwk] },
    provenance: { software_statement: softwareStatement },
  });
}

function temporary(key: TestKey, remoteAddress?: string, provenance?: Record<string, unknown>) {
  return postTemporaryAgent(t, key, {
    ...(remoteAddress !== undefined ? { remoteAddress } : {}),
    ...(provenance ? { body: { provenance } } : {}),
  });
}

/**
 * Makes every transaction see `overrides` on its agent store: how a test reproduces a read that a
 * concurrent transaction's commit has since made stale (PostgreSQL, READ COMMITTED).
 */
function overrideAgents(overrides: (agents: AgentStore) => Partial<AgentStore>): () => void {
  const store = t.deputy.store;
  const original = store.transaction;
  const bind = (target: object, prop: string | symbol) => {
    const v = Reflect.get(target, prop);
    return typeof v === "function" ? v.bind(target) : v;
  };
  const wrap = (tx: Store): Store =>
    new Proxy(tx, {
      get: (target, prop) => {
        if (prop !== "agents") return bind(target, prop);
        const changed = overrides(target.agents);
        return new Proxy(target.agents, {
          get: (agents, p) => (p in changed ? changed[p as keyof AgentStore] : bind(agents, p)),
        });
      },
    });
  store.transaction = ((fn: (tx: Store) => Promise<unknown>) =>
    original.call(store, (tx) => fn(wrap(tx)))) as Store["transaction"];
  return () => {
    store.transaction = original;
  };
}

describe("software statements", () => {
  it("statement-for-another-audience: a statement whose aud does not name Deputy is refused", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher, LEGACY);
    const other = await registerWith(
      s.principal,
      200,
      statement(launcher, { aud: "https://elsewhere.test" }),
    );
    expect(other.statusCode).toBe(400);
    expect(other.json()).toEqual({
      type: "statement-invalid",
      title: "Invalid software statement",
      status: 400,
      detail: `software_statement: aud does not name this server (${TEST_ISSUER})`,
      code: "ERR_STATEMENT_INVALID",
    });
    const several = await registerWith(
      s.principal,
      201,
      statement(launcher, { aud: ["https://elsewhere.test", "https://third.test"] }),
    );
    expect(several.json().code).toBe("ERR_STATEMENT_INVALID");
    // Addressed to Deputy (alone or among others), or with no aud at all: accepted.
    expect((await registerWith(s.principal, 202, statement(launcher, { aud: TEST_ISSUER }))).statusCode).toBe(
      201,
    );
    const among = statement(launcher, { aud: ["https://elsewhere.test", TEST_ISSUER] });
    expect((await registerWith(s.principal, 203, among)).statusCode).toBe(201);
    expect((await registerWith(s.principal, 204, statement(launcher))).statusCode).toBe(201);
  });

  it("statement-from-the-future: an iat or nbf later than now (beyond the skew) is refused", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher, LEGACY);
    const now = Math.floor(t.clock.now() / 1000);
    const skew = t.deputy.config.clockSkew;
    const future = await registerWith(
      s.principal,
      210,
      statement(launcher, { iat: now + skew + 3600, exp: now + skew + 7200 }),
    );
    expect(future.statusCode).toBe(400);
    expect(future.json()).toEqual({
      type: "statement-invalid",
      title: "Invalid software statement",
      status: 400,
      detail: "software_statement: iat is in the future",
      code: "ERR_STATEMENT_INVALID",
    });
    const notYet = await registerWith(s.principal, 211, statement(launcher, { nbf: now + skew + 60 }));
    expect(notYet.statusCode).toBe(400);
    expect(notYet.json().code).toBe("ERR_STATEMENT_INVALID");
    // Within the skew: accepted.
    expect((await registerWith(s.principal, 212, statement(launcher, { iat: now + skew }))).statusCode).toBe(
      201,
    );
  });
});

describe("software statement signatures", () => {
  it("self-signed-statement and crit-header: only the registered issuer's keys verify; unknown crit is refused", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher, LEGACY);
    const own = testKey(310); // the registering agent's own key
    const now = Math.floor(t.clock.now() / 1000);
    const claims = { iss: LAUNCHER, sub: "run-1", code_digest: "sha256:good", iat: now, exp: now + 300 };
    const register = (jwt: string) =>
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        name: "self",
        jwks: { keys: [own.publicJwk] },
        provenance: { software_statement: jwt },
      });
    const attempts = [
      signJwt(own, { typ: "JWT", kid: own.kid }, claims), // its own kid
      signJwt(own, { typ: "JWT" }, claims), // no kid: the issuer's only key is tried
      signJwt(own, { typ: "JWT", kid: launcher.kid }, claims), // the issuer's kid, the wrong key
      signJwt(own, { typ: "JWT", jwk: own.publicJwk }, claims), // a key embedded in the header
      signJwt(launcher, { typ: "JWT", kid: launcher.kid, crit: ["x-unknown"], "x-unknown": 1 }, claims),
      signJwt(launcher, { typ: "JWT", kid: launcher.kid, alg: "ES256" }, claims), // alg of another key type
    ];
    for (const jwt of attempts) {
      const res = await register(jwt);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe("ERR_STATEMENT_INVALID");
    }
    const agents = await expectOk(t.api("GET", `/v1/agents?principal=${s.principal}`));
    expect(agents.items).toHaveLength(1); // the story's agent only
  });
});

describe("software statement claims", () => {
  it("statement-with-malformed-sub: a sub that is not a string of 1..512 characters is refused", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher, LEGACY);
    const cases: unknown[] = [{ run: 42 }, 42, "", "x".repeat(513)];
    for (const [i, sub] of cases.entries()) {
      const res = await registerWith(s.principal, 260 + i, statement(launcher, { sub }));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        type: "statement-invalid",
        title: "Invalid software statement",
        status: 400,
        detail: "software_statement claim sub must be a string of 1..512 characters",
        code: "ERR_STATEMENT_INVALID",
      });
    }
    const ok = await registerWith(s.principal, 270, statement(launcher, { sub: "x".repeat(512) }));
    expect(ok.statusCode).toBe(201);
    expect(ok.json().provenance.verified.sub).toBe("x".repeat(512));
  });
});

describe("provenance sizes", () => {
  it("oversized-provenance: a huge statement or self-asserted record is refused before anything is stored", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher, LEGACY);
    const big = await registerWith(
      s.principal,
      350,
      statement(launcher, { runtime_notes: "x".repeat(17_000) }),
    );
    expect(big.statusCode).toBe(400);
    expect(big.json()).toEqual({
      type: "statement-invalid",
      title: "Invalid software statement",
      status: 400,
      detail: "software_statement is longer than 16384 characters",
      code: "ERR_STATEMENT_INVALID",
    });
    const chatty = await t.api("POST", "/v1/agents", {
      principal: s.principal,
      name: "chatty",
      jwks: { keys: [testKey(351).publicJwk] },
      provenance: { notes: "x".repeat(5000) },
    });
    expect(chatty.statusCode).toBe(400);
    expect(chatty.json()).toMatchObject({
      code: "ERR_INVALID_REQUEST",
      detail: "self-asserted provenance may hold at most 4096 characters of JSON",
    });
    // Also without an account: a temporary agent.
    const tmp = await postTemporaryAgent(t, testKey(352), {
      body: { name: "chatty", provenance: { notes: "x".repeat(5000) } },
    });
    expect(tmp.statusCode).toBe(400);
    expect(tmp.json().code).toBe("ERR_INVALID_REQUEST");
    const agents = await expectOk(t.api("GET", `/v1/agents?principal=${s.principal}`));
    expect(agents.items).toHaveLength(1);
    // Up to the limits: accepted.
    const fits = await t.api("POST", "/v1/agents", {
      principal: s.principal,
      name: "fits",
      jwks: { keys: [testKey(353).publicJwk] },
      provenance: { notes: "x".repeat(4000), software_statement: statement(launcher) },
    });
    expect(fits.statusCode).toBe(201);
  });
});

describe("a leaked software statement (key binding, single use)", () => {
  const invalid = (detail: string) => ({
    type: "statement-invalid",
    title: "Invalid software statement",
    status: 400,
    detail,
    code: "ERR_STATEMENT_INVALID",
  });
  const OTHER_KEY =
    "software_statement is bound to another key: its cnf.jkt is the thumbprint of no key in jwks";
  const refusals = async (action: string) =>
    (await expectOk(t.api("GET", `/v1/audit/events?action=${action}`))).items.map(
      (i: { entry: { details: { error: string } } }) => i.entry.details.error,
    );
  async function enrollment(principal: string) {
    return expectOk(
      t.api("POST", "/v1/enrollments", {
        principal,
        scopes: ["read"],
        resources: [TEST_RESOURCE],
        max_agents: 5,
        expires_in: 3600,
      }),
    );
  }
  function enroll(code: string, key: TestKey, softwareStatement: string) {
    return t.app.inject({
      method: "POST",
      url: "/v1/agents/enroll",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({
        enrollment_code: code,
        name: "runner",
        jwks: { keys: [key.publicJwk] },
        provenance: { software_statement: softwareStatement },
      }),
    });
  }

  it("statement-bound-to-another-key: refused on every registration path, audited, nothing created", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    expect(await registerLauncher(launcher)).toMatchObject({ require_key_binding: true });
    const launched = testKey(400); // the agent the launcher started, and vouched for
    const leaked = statement(launcher, { cnf: { jkt: launched.kid } });
    const attacker = testKey(401);

    const viaApi = await registerWith(s.principal, 401, leaked);
    expect(viaApi.statusCode).toBe(400);
    expect(viaApi.json()).toEqual(invalid(OTHER_KEY));
    const viaTemporary = await temporary(attacker, undefined, { software_statement: leaked });
    expect(viaTemporary.statusCode).toBe(400);
    expect(viaTemporary.json()).toEqual(invalid(OTHER_KEY));
    const e = await enrollment(s.principal);
    const viaEnrollment = await enroll(e.enrollment_code, attacker, leaked);
    expect(viaEnrollment.statusCode).toBe(400);
    expect(viaEnrollment.json()).toEqual(invalid(OTHER_KEY));
    // The launched agent's public key listed beside the attacker's own: the statement vouches
    // for one key, so the registration may hold that key alone.
    const beside = await t.api("POST", "/v1/agents", {
      principal: s.principal,
      name: "beside",
      jwks: { keys: [launched.publicJwk, attacker.publicJwk] },
      provenance: { software_statement: leaked },
    });
    expect(beside.statusCode).toBe(400);
    expect(beside.json()).toEqual(
      invalid("software_statement is bound to one key (cnf.jkt): jwks must hold that key alone"),
    );
    // Bound some other way than jkt (here an embedded key): not understood, so refused.
    const otherCnf = await registerWith(
      s.principal,
      402,
      statement(launcher, { cnf: { jwk: attacker.publicJwk } }),
    );
    expect(otherCnf.statusCode).toBe(400);
    expect(otherCnf.json()).toEqual(
      invalid("software_statement claim cnf must be {jkt: <RFC 7638 thumbprint of the agent's public key>}"),
    );

    expect(await refusals("agent.create_refused")).toEqual(Array(3).fill("ERR_STATEMENT_INVALID"));
    expect(await refusals("agent.temporary_refused")).toEqual(["ERR_STATEMENT_INVALID"]);
    expect(await refusals("agent.enroll_refused")).toEqual(["ERR_STATEMENT_INVALID"]);
    const agents = await expectOk(t.api("GET", `/v1/agents?principal=${s.principal}`));
    expect(agents.items).toHaveLength(1); // the story's agent only
    expect((await expectOk(t.api("GET", `/v1/enrollments/${e.id}`))).agents_enrolled).toBe(0);
  });

  it("bound-statement-accepted: the agent's own key gets the verified label, bound: true, and passes a digest allow-list", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher);
    await expectOk(t.api("PATCH", `/v1/resources/${s.resource.id}`, { code_digests: ["sha256:good"] }));
    const key = testKey(410);
    // An agent with no account at all: the statement is what vouches for it.
    const tmp = await temporary(key, undefined, {
      software_statement: statement(launcher, { cnf: { jkt: key.kid } }),
    });
    expect(tmp.statusCode).toBe(201);
    const now = Math.floor(T0 / 1000);
    expect(tmp.json().agent.provenance).toEqual({
      status: "verified",
      verified: {
        iss: LAUNCHER,
        sub: "run-42",
        software_id: null,
        software_version: null,
        code_digest: "sha256:good",
        model: null,
        runtime: null,
        launched_by: null,
        iat: now,
        exp: now + 300,
        bound: true,
      },
      self_asserted: null,
    });
    const token = await getToken(t, tmp.json().agent.id, key, { resource: TEST_RESOURCE });
    expect(token).toMatch(/^ey/);
    const created = await expectOk(t.api("GET", "/v1/audit/events?action=agent.temporary_created"));
    expect(created.items[0].entry.details).toMatchObject({
      provenance: "verified",
      provenance_iss: LAUNCHER,
      provenance_bound: true,
      code_digest: "sha256:good",
    });
    // And through POST /v1/agents.
    const own = testKey(411);
    const viaApi = await registerWith(s.principal, 411, statement(launcher, { cnf: { jkt: own.kid } }));
    expect(viaApi.statusCode).toBe(201);
    expect(viaApi.json().provenance.verified.bound).toBe(true);
  });

  it("key-added-to-bound-agent: no key can join an agent whose provenance is bound to its key", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher, LEGACY);
    // Someone who holds a leaked bound statement and the launched agent's public key registers
    // an agent with that key alone, then tries to add a key of their own.
    const launched = testKey(420);
    const agent = await expectOk(
      registerWith(s.principal, 420, statement(launcher, { cnf: { jkt: launched.kid } })),
    );
    const added = await t.api("POST", `/v1/agents/${agent.id}/keys`, { jwk: testKey(421).publicJwk });
    expect(added.statusCode).toBe(409);
    expect(added.json()).toEqual({
      type: "conflict",
      title: "Conflict",
      status: 409,
      detail: `agent ${agent.id} has provenance bound to its key: register a new agent with a statement bound to the new key`,
      code: "ERR_CONFLICT",
    });
    const keys = await expectOk(t.api("GET", `/v1/agents/${agent.id}/keys`));
    expect(keys.items.map((k: { kid: string }) => k.kid)).toEqual([launched.kid]);
    // An agent with an unbound (legacy) statement can still rotate its keys.
    const unbound = await expectOk(registerWith(s.principal, 422, statement(launcher)));
    expect(
      (await t.api("POST", `/v1/agents/${unbound.id}/keys`, { jwk: testKey(423).publicJwk })).statusCode,
    ).toBe(201);
  });

  it("unbound-statement-when-binding-required: an issuer registered now requires cnf.jkt unless told otherwise", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    const issuer = await registerLauncher(launcher);
    expect(await expectOk(t.api("GET", `/v1/provenance-issuers/${issuer.id}`))).toMatchObject({
      require_key_binding: true,
    });
    const unbound = await registerWith(s.principal, 430, statement(launcher));
    expect(unbound.statusCode).toBe(400);
    expect(unbound.json()).toEqual(
      invalid(
        `software_statement is not bound to the agent's key: issuer ${LAUNCHER} requires cnf.jkt (the RFC 7638 thumbprint of the agent's public key)`,
      ),
    );
    const tmp = await temporary(testKey(431), undefined, { software_statement: statement(launcher) });
    expect(tmp.statusCode).toBe(400);
    expect(tmp.json().detail).toMatch(/not bound to the agent's key/);
    expect(await refusals("agent.create_refused")).toEqual(["ERR_STATEMENT_INVALID"]);
    expect(await refusals("agent.temporary_refused")).toEqual(["ERR_STATEMENT_INVALID"]);
  });

  it("unbound-statement-from-legacy-issuer: accepted and labelled bound: false; a bound one is still checked", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    const issuer = await registerLauncher(launcher, LEGACY);
    expect(issuer.require_key_binding).toBe(false);
    const listed = await expectOk(t.api("GET", "/v1/provenance-issuers"));
    expect(listed.items.map((i: { require_key_binding: boolean }) => i.require_key_binding)).toEqual([false]);
    const unbound = await registerWith(s.principal, 440, statement(launcher));
    expect(unbound.statusCode).toBe(201);
    expect(unbound.json().provenance).toMatchObject({
      status: "verified",
      verified: { iss: LAUNCHER, code_digest: "sha256:good", bound: false },
    });
    const created = await expectOk(t.api("GET", "/v1/audit/events?action=agent.created"));
    expect(created.items.at(-1).entry.details).toMatchObject({
      provenance: "verified",
      provenance_bound: false,
    });
    // Binding is optional for this issuer, but a statement that claims it must hold.
    const mismatch = await registerWith(
      s.principal,
      441,
      statement(launcher, { cnf: { jkt: testKey(442).kid } }),
    );
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json()).toEqual(invalid(OTHER_KEY));
    const bound = await registerWith(
      s.principal,
      443,
      statement(launcher, { cnf: { jkt: testKey(443).kid } }),
    );
    expect(bound.statusCode).toBe(201);
    expect(bound.json().provenance.verified.bound).toBe(true);

    // Once the launcher binds its statements, the admin turns binding on (a principal cannot).
    const url = `/v1/provenance-issuers/${issuer.id}`;
    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    expect((await t.api("PATCH", url, { require_key_binding: true }, token)).statusCode).toBe(403);
    expect(await expectOk(t.api("PATCH", url, { require_key_binding: true }))).toMatchObject({
      id: issuer.id,
      require_key_binding: true,
    });
    const later = await registerWith(s.principal, 444, statement(launcher));
    expect(later.statusCode).toBe(400);
    expect(later.json().detail).toMatch(/requires cnf\.jkt/);
    const updated = await expectOk(t.api("GET", "/v1/audit/events?action=provenance_issuer.updated"));
    expect(
      updated.items.map((i: { entry: Record<string, any> }) => [i.entry.target, i.entry.details]),
    ).toEqual([[issuer.id, { issuer: LAUNCHER, require_key_binding: true }]]);
    // The agent registered before keeps its (unbound) label.
    const earlier = await expectOk(t.api("GET", `/v1/agents/${unbound.json().id}`));
    expect(earlier.provenance.verified.bound).toBe(false);
  });

  it("statement-replayed: a statement with a jti registers one agent, even when parallel requests race", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher);
    const key = testKey(450);
    const once = statement(launcher, { cnf: { jkt: key.kid }, jti: "launch-450" });
    const results = await Promise.all(Array.from({ length: 6 }, () => registerWith(s.principal, 450, once)));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    for (const r of results.filter((x) => x.statusCode !== 201)) {
      expect(r.statusCode).toBe(400);
      expect(r.json()).toEqual(
        invalid("software_statement was already used: a statement with a jti registers one agent"),
      );
    }
    // Replayed where no account is needed, and through an enrollment: refused too, audited.
    const tmp = await temporary(key, undefined, { software_statement: once });
    expect(tmp.statusCode).toBe(400);
    expect(tmp.json().detail).toMatch(/already used/);
    const e = await enrollment(s.principal);
    expect((await enroll(e.enrollment_code, key, once)).json().detail).toMatch(/already used/);
    expect(await refusals("agent.create_refused")).toEqual(Array(5).fill("ERR_STATEMENT_INVALID"));
    expect(await refusals("agent.temporary_refused")).toEqual(["ERR_STATEMENT_INVALID"]);
    expect(await refusals("agent.enroll_refused")).toEqual(["ERR_STATEMENT_INVALID"]);
    expect((await expectOk(t.api("GET", `/v1/enrollments/${e.id}`))).agents_enrolled).toBe(0);
    // Another launch (another jti) is another statement.
    const next = statement(launcher, { cnf: { jkt: key.kid }, jti: "launch-451" });
    expect((await registerWith(s.principal, 450, next)).statusCode).toBe(201);
    // A jti that is not a short string is refused.
    const odd = await registerWith(s.principal, 450, statement(launcher, { cnf: { jkt: key.kid }, jti: 7 }));
    expect(odd.json()).toEqual(invalid("software_statement claim jti must be a string of 1..256 characters"));
  });
});

describe("claims and the sweeper", () => {
  it("racing-claims: of 12 parallel claims by two humans exactly one wins; the others get 409 and write nothing", async () => {
    await deputy();
    const s = await setupStory(t);
    const bob = await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Bob" }));
    const { token: ada } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const { token: bobToken } = await expectOk(t.api("POST", `/v1/principals/${bob.id}/tokens`));
    const tmp = (await temporary(testKey(225))).json();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        t.api("POST", `/v1/claims/${tmp.claim_code}`, {}, i % 2 === 0 ? ada : bobToken),
      ),
    );
    const won = results.filter((r) => r.statusCode === 200);
    expect(won).toHaveLength(1);
    const winner = won[0]!.json().principal as string;
    expect([s.principal, bob.id]).toContain(winner);
    for (const r of results.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode).toBe(409);
      expect(r.json()).toEqual({
        type: "claim-used",
        title: "Agent was already claimed",
        status: 409,
        detail: `agent ${tmp.agent.id} was already claimed`,
        code: "ERR_CLAIM_USED",
      });
    }
    const agent = await expectOk(t.api("GET", `/v1/agents/${tmp.agent.id}`));
    expect(agent).toMatchObject({ principal: winner, status: "active", ceiling: null });
    const grants = await expectOk(t.api("GET", `/v1/grants?agent=${tmp.agent.id}`));
    expect(grants.items.map((g: { principal: string }) => g.principal)).toEqual([winner]);
    const claimed = await expectOk(t.api("GET", "/v1/audit/events?action=agent.claimed"));
    expect(claimed.items).toHaveLength(1);
    expect(claimed.items[0].entry.actor.principal).toBe(winner);
    const refused = await expectOk(t.api("GET", "/v1/audit/events?action=agent.claim_refused"));
    expect(refused.items).toHaveLength(11);
    // The loser sees nothing of the agent.
    const loserToken = winner === s.principal ? bobToken : ada;
    expect((await t.api("GET", `/v1/agents/${tmp.agent.id}`, undefined, loserToken)).statusCode).toBe(404);
  });

  it("claim-by-the-wrong-caller: an agent token, a disabled human or the admin cannot claim; nothing moves", async () => {
    await deputy({
      sandboxResources: `${TEST_RESOURCE} ${TEST_ISSUER}`,
      sandboxScopes: "read agents:delegate",
    });
    const s = await setupStory(t);
    const { token: ada } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const key = testKey(320);
    const tmp = (await temporary(key)).json();
    const url = `/v1/claims/${tmp.claim_code}`;
    // The temporary agent itself, with a DPoP-bound token for Deputy's API.
    const token = await getToken(t, tmp.agent.id, key, { resource: TEST_ISSUER, scope: "agents:delegate" });
    const proof = dpopProof(key, {
      htm: "POST",
      htu: `${TEST_ISSUER}${url}`,
      iat: nowS(t),
      accessToken: token,
    });
    const byAgent = await t.app.inject({
      method: "POST",
      url,
      headers: { authorization: `DPoP ${token}`, dpop: proof, "content-type": "application/json" },
      payload: "{}",
    });
    expect(byAgent.statusCode).toBe(403);
    expect(byAgent.json()).toEqual({
      type: "forbidden",
      title: "Forbidden",
      status: 403,
      detail: "a temporary agent is claimed with a human principal's token",
      code: "ERR_FORBIDDEN",
    });
    expect((await t.api("POST", url, {})).statusCode).toBe(403); // the admin
    await expectOk(t.api("POST", `/v1/principals/${s.principal}/disable`, {}));
    const disabled = await t.api("POST", url, {}, ada);
    expect(disabled.statusCode).toBe(401);
    expect(disabled.json()).toMatchObject({
      code: "ERR_UNAUTHENTICATED",
      detail: "the token's principal is disabled",
    });
    const agent = await expectOk(t.api("GET", `/v1/agents/${tmp.agent.id}`));
    expect(agent).toMatchObject({ principal: tmp.agent.principal, claimed_at: null, status: "active" });
    // No refusal names the claim code.
    const log = await expectOk(t.api("GET", "/v1/audit/events?limit=1000"));
    expect(JSON.stringify(log)).not.toContain(tmp.claim_code);
  });

  it("claim-during-sweep: an agent claimed after the sweeper read the expired ones is not swept", async () => {
    await deputy();
    const s = await setupStory(t);
    const { token: ada } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const key = testKey(220);
    const tmp = (await temporary(key)).json();
    const closes = T0 + 3_600_000;
    // The sweeper starts at `closes` and reads the expired agents; a claim made a second before
    // the window closed commits before the sweeper writes.
    t.clock.set(closes - 1000);
    const claim = await t.api("POST", `/v1/claims/${tmp.claim_code}`, {}, ada);
    expect(claim.statusCode).toBe(200);
    let reads = 0;
    const restore = overrideAgents((agents) => ({
      // The first read is the stale one; later reads see the claim.
      expiredTemporary: async (now, limit) =>
        reads++ === 0 ? [tmp.agent.id] : agents.expiredTemporary(now, limit),
    }));
    try {
      expect(await sweepTemporaryAgents(t.deputy, { now: closes })).toBe(0);
    } finally {
      restore();
    }
    const agent = await expectOk(t.api("GET", `/v1/agents/${tmp.agent.id}`, undefined, ada));
    expect(agent).toMatchObject({
      status: "active",
      principal: s.principal,
      revoke_reason: null,
      claimed_at: new Date(closes - 1000).toISOString(),
    });
    expect(agent.jwks.keys.map((k: { kid: string }) => k.kid)).toEqual([key.kid]);
    expect(await getToken(t, tmp.agent.id, key)).toMatch(/^ey/);
    const swept = await expectOk(t.api("GET", "/v1/audit/events?action=agent.swept"));
    expect(swept.items).toEqual([]);
  });
});

describe("temporary agents in their sandbox", () => {
  function asAgent(key: TestKey, token: string, method: string, url: string, body: unknown) {
    const proof = dpopProof(key, {
      htm: method,
      htu: `${TEST_ISSUER}${url}`,
      iat: nowS(t),
      accessToken: token,
    });
    return t.app.inject({
      method: method as "POST",
      url,
      headers: { authorization: `DPoP ${token}`, dpop: proof, "content-type": "application/json" },
      payload: JSON.stringify(body),
    });
  }

  it("sandbox-sub-agents: an unclaimed temporary agent cannot have sub-agents, even where its sandbox allows agents:delegate", async () => {
    // An operator lets sandboxed agents call Deputy's own API with agents:delegate.
    await deputy({
      sandboxResources: `${TEST_RESOURCE} ${TEST_ISSUER}`,
      sandboxScopes: "read agents:delegate",
    });
    const s = await setupStory(t);
    const { token: ada } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    const key = testKey(230);
    const tmp = (await temporary(key)).json();
    const sandbox = tmp.agent.principal as string;
    const token = await getToken(t, tmp.agent.id, key, { resource: TEST_ISSUER, scope: "agents:delegate" });
    const child = {
      principal: sandbox,
      parent: tmp.agent.id,
      name: "spawn",
      jwks: { keys: [testKey(231).publicJwk] },
    };
    // One proof of work would otherwise buy any number of identities that are never swept.
    const own = await asAgent(key, token, "POST", "/v1/agents", child);
    expect(own.statusCode).toBe(400);
    expect(own.json()).toEqual({
      type: "agent-ceiling",
      title: "Exceeds the agent's ceiling",
      status: 400,
      detail: `agent ${tmp.agent.id} is an unclaimed temporary agent: it can have sub-agents once a human claims it`,
      code: "ERR_AGENT_CEILING",
    });
    const byAdmin = await t.api("POST", "/v1/agents", child);
    expect(byAdmin.statusCode).toBe(400);
    expect(byAdmin.json().code).toBe("ERR_AGENT_CEILING");
    const list = await expectOk(t.api("GET", `/v1/agents?parent=${tmp.agent.id}`));
    expect(list.items).toEqual([]);

    // Once claimed it is an ordinary agent of its principal.
    await expectOk(t.api("POST", `/v1/claims/${tmp.claim_code}`, {}, ada));
    const afterClaim = await t.api("POST", "/v1/agents", { ...child, principal: s.principal }, ada);
    expect(afterClaim.statusCode).toBe(201);
    expect(afterClaim.json()).toMatchObject({ parent: tmp.agent.id, principal: s.principal });
  });
});

describe("the claim window", () => {
  it("window-closed-before-sweep: an unclaimed temporary agent past its window gets no token, even from a longer grant", async () => {
    await deputy();
    await setupStory(t);
    const key = testKey(250);
    const tmp = (await temporary(key)).json();
    // Within the sandbox, but outliving the claim window.
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: tmp.agent.id,
        scopes: ["read"],
        resources: [TEST_RESOURCE],
        expires_at: new Date(T0 + 7_200_000).toISOString(),
      }),
    );
    expect((await clientCredentials(t, tmp.agent.id, key)).statusCode).toBe(200);
    t.clock.set(T0 + 3_600_000); // the window closes; the sweeper has not run yet
    const late = await clientCredentials(t, tmp.agent.id, key);
    expect(late.statusCode).toBe(401);
    expect(late.json()).toEqual({
      error: "invalid_client",
      error_description: `temporary agent ${tmp.agent.id} was not claimed within its claim window`,
    });
  });
});

describe("the sandbox principal", () => {
  it("disabled-sandbox: once the sandbox principal is disabled, no temporary agent is created under it", async () => {
    await deputy();
    await setupStory(t);
    const first = (await temporary(testKey(330))).json();
    const sandbox = first.agent.principal as string;
    const disabled = await expectOk(t.api("POST", `/v1/principals/${sandbox}/disable`, {}));
    expect(disabled.revoked).toMatchObject({ agents: 1 });
    const after = await temporary(testKey(331));
    expect(after.statusCode).toBe(409);
    expect(after.json()).toEqual({
      type: "principal-disabled",
      title: "Principal is disabled",
      status: 409,
      detail: `the sandbox principal ${sandbox} is disabled: this server creates no temporary agents`,
      code: "ERR_PRINCIPAL_DISABLED",
    });
    const agents = await expectOk(t.api("GET", `/v1/agents?principal=${sandbox}`));
    expect(agents.items.map((a: { id: string; status: string }) => [a.id, a.status])).toEqual([
      [first.agent.id, "revoked"],
    ]);
  });
});

describe("the per-address limit on temporary agents", () => {
  it("ipv6-address-hopping: addresses of one /64 share one count; IPv4-mapped addresses count as IPv4", async () => {
    await deputy({ temporaryAgentsPerHour: 2 });
    await setupStory(t);
    expect((await temporary(testKey(240), "2001:db8:1:2::1")).statusCode).toBe(201);
    expect((await temporary(testKey(241), "2001:db8:1:2::2")).statusCode).toBe(201);
    const hopped = await temporary(testKey(242), "2001:db8:1:2:ffff:ffff:ffff:fffe");
    expect(hopped.statusCode).toBe(429);
    expect(hopped.json()).toEqual({
      type: "rate-limited",
      title: "Too many requests",
      status: 429,
      detail: "at most 2 temporary agents per hour from one address",
      code: "ERR_RATE_LIMITED",
      retry_after: 3600,
    });
    // Another /64 has its own count.
    expect((await temporary(testKey(243), "2001:db8:1:3::1")).statusCode).toBe(201);
    expect((await temporary(testKey(244), "203.0.113.9")).statusCode).toBe(201);
    expect((await temporary(testKey(245), "::ffff:203.0.113.9")).statusCode).toBe(201);
    expect((await temporary(testKey(246), "203.0.113.9")).statusCode).toBe(429);
  });

  it("limit-burned-without-work: unsolved, forged or replayed requests do not use up an address's allowance", async () => {
    await deputy({ temporaryAgentsPerHour: 2 });
    await setupStory(t);
    const shared = "198.51.100.7"; // one NAT, two users
    const c = (await t.app.inject({ method: "GET", url: "/v1/agents/temporary/challenge" })).json();
    const send = (key: TestKey, challenge: string, nonce: string) =>
      t.app.inject({
        method: "POST",
        url: "/v1/agents/temporary",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ name: "x", jwks: { keys: [key.publicJwk] }, challenge, nonce }),
        remoteAddress: shared,
      });
    for (let i = 0; i < 5; i++) {
      const forged = await send(testKey(280 + i), c.challenge.replace(/-8-/, "-0-"), "0");
      expect(forged.json().code).toBe("ERR_CHALLENGE_INVALID");
    }
    const nonce = solveChallenge(c.challenge, c.difficulty);
    expect((await send(testKey(290), c.challenge, nonce)).statusCode).toBe(201);
    for (let i = 0; i < 3; i++) {
      const replayed = await send(testKey(291 + i), c.challenge, nonce);
      expect(replayed.json().code).toBe("ERR_CHALLENGE_REUSED");
    }
    expect((await temporary(testKey(295), shared)).statusCode).toBe(201);
    const third = await temporary(testKey(296), shared);
    expect(third.statusCode).toBe(429);
    expect(third.json()).toMatchObject({ code: "ERR_RATE_LIMITED", retry_after: 3600 });
    // Every refusal is audited, the rate-limited one included.
    const refused = await expectOk(t.api("GET", "/v1/audit/events?action=agent.temporary_refused&limit=100"));
    expect(
      refused.items.map((i: { entry: { details: { error: string } } }) => i.entry.details.error),
    ).toEqual([
      ...Array(5).fill("ERR_CHALLENGE_INVALID"),
      ...Array(3).fill("ERR_CHALLENGE_REUSED"),
      "ERR_RATE_LIMITED",
    ]);
  });
});

describe("enrollment ceilings", () => {
  async function enrolled(scopes: string[]) {
    const s = await setupStory(t);
    const e = await expectOk(
      t.api("POST", "/v1/enrollments", {
        principal: s.principal,
        scopes,
        resources: [TEST_RESOURCE],
        max_agents: 5,
        expires_in: 3600,
      }),
    );
    const key = testKey(300);
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/agents/enroll",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({
        enrollment_code: e.enrollment_code,
        name: "r",
        jwks: { keys: [key.publicJwk] },
      }),
    });
    expect(res.statusCode).toBe(201);
    return { s, e, agent: res.json().agent.id as string, initialGrant: res.json().grant.id as string, key };
  }
  const until = new Date(T0 + 3_600_000).toISOString();

  it("enroll-for-disabled-principal: refused with 409, written nowhere but its audit entry", async () => {
    await deputy();
    const s = await setupStory(t);
    const e = await expectOk(
      t.api("POST", "/v1/enrollments", {
        principal: s.principal,
        scopes: ["read"],
        resources: [TEST_RESOURCE],
        max_agents: 5,
        expires_in: 3600,
      }),
    );
    await expectOk(t.api("POST", `/v1/principals/${s.principal}/disable`, {}));
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/agents/enroll",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({
        enrollment_code: e.enrollment_code,
        name: "late",
        jwks: { keys: [testKey(340).publicJwk] },
      }),
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({
      type: "principal-disabled",
      title: "Principal is disabled",
      status: 409,
      detail: `principal ${s.principal} is disabled`,
      code: "ERR_PRINCIPAL_DISABLED",
    });
    expect((await expectOk(t.api("GET", `/v1/enrollments/${e.id}`))).agents_enrolled).toBe(0);
    const refused = await expectOk(t.api("GET", "/v1/audit/events?action=agent.enroll_refused"));
    expect(
      refused.items.map((i: { entry: Record<string, any> }) => [i.entry.target, i.entry.details.error]),
    ).toEqual([[e.id, "ERR_PRINCIPAL_DISABLED"]]);
  });

  it("ceiling-lookalikes: prefixes, case, duplicates, whitespace and a trailing slash are compared exactly", async () => {
    await deputy();
    const { agent } = await enrolled(["read"]);
    await expectOk(t.api("POST", "/v1/resources", { audience: `${TEST_RESOURCE}/`, name: "Slash" }));
    const grant = (scopes: unknown[], resources: string[]) =>
      t.api("POST", "/v1/grants", { agent, scopes, resources, expires_at: until });
    for (const scopes of [["read:all"], ["rea"], ["READ"], ["read", "read:write"]]) {
      const res = await grant(scopes, [TEST_RESOURCE]);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe("ERR_AGENT_CEILING");
    }
    const slash = await grant(["read"], [`${TEST_RESOURCE}/`]);
    expect(slash.statusCode).toBe(400);
    expect(slash.json()).toMatchObject({
      code: "ERR_AGENT_CEILING",
      detail: `resource ${TEST_RESOURCE}/ is outside its enrollment (agent ${agent})`,
    });
    // Not scope tokens at all (RFC 6749 §3.3): refused before any ceiling check.
    for (const scopes of [["read write"], [" read"], ["read\t"]]) {
      const res = await grant(scopes, [TEST_RESOURCE]);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe("ERR_INVALID_REQUEST");
    }
    const dup = await grant(["read", "read"], [TEST_RESOURCE, TEST_RESOURCE]);
    expect(dup.statusCode).toBe(201);
    expect(dup.json()).toMatchObject({ scopes: ["read"], resources: [TEST_RESOURCE] });
  });

  it("ceiling-through-sub-agents: a sub-agent's grants and delegated tokens stay within its parent's enrollment; the cascade reaches it", async () => {
    await deputy();
    const { s, e, agent, initialGrant } = await enrolled(["read", "agents:delegate"]);
    // Only one grant to delegate from (so the refusal below names the scope, not the depth 0 of
    // the initial grant): within the ceiling, with one hop of delegation.
    await expectOk(t.api("POST", `/v1/grants/${initialGrant}/revoke`, {}));
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent,
        scopes: ["read"],
        resources: [TEST_RESOURCE],
        expires_at: until,
        max_delegation_depth: 1,
      }),
    );
    const sub = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: agent,
        name: "sub",
        jwks: { keys: [testKey(301).publicJwk] },
      }),
    );
    // The story's agent holds write on the same resource; the sub-agent still may not.
    const wider = await t.api("POST", "/v1/grants", {
      agent: sub.id,
      scopes: ["write"],
      resources: [TEST_RESOURCE],
      expires_at: until,
    });
    expect(wider.statusCode).toBe(400);
    expect(wider.json().code).toBe("ERR_DELEGATION_WIDENS_SCOPE");
    expect(
      (
        await t.api("POST", "/v1/grants", {
          agent: sub.id,
          scopes: ["read"],
          resources: [TEST_RESOURCE],
          expires_at: until,
        })
      ).statusCode,
    ).toBe(201);
    const revoked = await expectOk(t.api("POST", `/v1/enrollments/${e.id}/revoke`, { cascade: true }));
    expect(revoked.revoked).toMatchObject({ agents: 2 });
    expect([...revoked.agents].sort()).toEqual([agent, sub.id].sort());
    expect((await expectOk(t.api("GET", `/v1/agents/${sub.id}`))).status).toBe("revoked");
  });
});
