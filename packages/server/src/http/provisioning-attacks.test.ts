/**
 * Provisioning attacks found in review, at the wire, on whichever store the run selects (SQLite,
 * or PostgreSQL with DEPUTY_TEST_DATABASE_URL). Attacks by name: statement-for-another-audience, statement-from-the-future.
 */
import { afterEach, describe, expect, it } from "vitest";
import { signJwt, type TestKey, testKey } from "../test-support/keys.js";
import {
  createTestDeputy,
  expectOk,
  setupStory,
  TEST_ISSUER,
  type TestDeputy,
} from "../test-support/server.js";

const LAUNCHER = "https://ci.example.test";

let t: TestDeputy;
afterEach(async () => {
  await t?.close();
});

async function deputy(overrides: Record<string, unknown> = {}): Promise<TestDeputy> {
  t = await createTestDeputy({ powDifficulty: 8, temporaryAgentsPerHour: 100, ...overrides });
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

async function registerLauncher(key: TestKey) {
  await expectOk(
    t.api("POST", "/v1/provenance-issuers", {
      name: "CI",
      issuer: LAUNCHER,
      jwks: { keys: [key.publicJwk] },
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

describe("software statements", () => {
  it("statement-for-another-audience: a statement whose aud does not name Deputy is refused", async () => {
    await deputy();
    const s = await setupStory(t);
    const launcher = testKey(90);
    await registerLauncher(launcher);
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
    await registerLauncher(launcher);
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
