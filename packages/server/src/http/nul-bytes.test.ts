/**
 * U+0000 in any input (path, query, JSON or form body) is refused with 400 ERR_INVALID_REQUEST on
 * both stores. PostgreSQL text cannot hold it: before this rule, a NUL in a principal's name, an
 * id in a path or an audit query filter answered 500 there (while SQLite stored it).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clientAssertion, dpopProof, signJwt, testKey } from "../test-support/keys.js";
import { clientCredentials, form, nowS, postForm, TOKEN_URL } from "../test-support/oauth.js";
import { PROVISIONING_TEST_SETTINGS, postTemporaryAgent } from "../test-support/provisioning.js";
import { createTestDeputy, setupStory, TEST_RESOURCE, type TestDeputy } from "../test-support/server.js";

const DETAIL = "the request contains a NUL character (U+0000), which Deputy does not accept";

describe("NUL characters in input", () => {
  let t: TestDeputy;
  beforeEach(async () => {
    t = await createTestDeputy();
  });
  afterEach(() => t.close());

  const problem = {
    type: "invalid-request",
    title: "Invalid request",
    status: 400,
    code: "ERR_INVALID_REQUEST",
  };

  it("in a JSON body, a path or a query: 400 problem, nothing stored", async () => {
    for (const res of [
      await t.api("POST", "/v1/principals", { type: "human", name: "A\u0000lice" }),
      await t.api("POST", "/v1/principals", { type: "human", name: "Alice", "x\u0000": 1 }),
      await t.api("GET", "/v1/agents/agt_%00"),
      await t.api("GET", "/v1/audit/events?agent=agt_%00"),
      await t.api("POST", "/v1/revocations", { target: "agt_\u0000" }),
    ]) {
      expect({ status: res.statusCode, body: res.json() }).toEqual({
        status: 400,
        body: { ...problem, detail: DETAIL },
      });
    }
    const list = await t.api("GET", "/v1/principals");
    expect(list.json().items).toEqual([]);
  });

  it("a JSON string that only spells a backslash and u0000 is accepted as text", async () => {
    const res = await t.api("POST", "/v1/principals", { type: "human", name: "\\u0000" });
    expect(res.statusCode).toBe(201);
    expect(res.json().name).toBe("\\u0000");
  });

  it("in an OAuth form body, encoded or raw: 400 invalid_request", async () => {
    for (const body of [
      form({ grant_type: "client_credentials\u0000", resource: TEST_RESOURCE }),
      `grant_type=client_credentials&resource=${TEST_RESOURCE}\u0000`,
    ]) {
      const res = await postForm(t, "/oauth/token", body);
      expect({ status: res.statusCode, body: res.json() }).toEqual({
        status: 400,
        body: { error: "invalid_request", error_description: DETAIL },
      });
    }
    const res = await postForm(t, "/oauth/introspect", form({ token: "tok\u0000" }), {
      authorization: `Basic ${Buffer.from("res_x:y").toString("base64")}`,
    });
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 400,
      body: { error: "invalid_request", error_description: DETAIL },
    });
  });

  it("inside a JWT (where the request-level check cannot look): a jti or iss with U+0000 is refused, never a 500", async () => {
    const story = await setupStory(t);
    const key = story.agentKey;
    const badProof = dpopProof(key, { htm: "POST", htu: TOKEN_URL, iat: nowS(t) }, { jti: "j\u0000" });
    const proofRes = await clientCredentials(t, story.agent, key, { proof: badProof });
    expect({ status: proofRes.statusCode, body: proofRes.json() }).toEqual({
      status: 400,
      body: {
        error: "invalid_dpop_proof",
        error_description: "DPoP proof jti contains U+0000 or an unpaired surrogate",
      },
    });
    const badAssertion = clientAssertion(key, story.agent, nowS(t), { jti: "a\ud800" });
    const assertionRes = await clientCredentials(t, story.agent, key, { assertion: badAssertion });
    expect(assertionRes.statusCode).toBe(401);
    expect(assertionRes.json()).toMatchObject({ error: "invalid_client" });
    expect(assertionRes.json().error_description).toContain("jti contains U+0000 or an unpaired surrogate");
    // A software statement's iss is looked up before its signature can be checked.
    await t.close();
    t = await createTestDeputy({ ...PROVISIONING_TEST_SETTINGS });
    await setupStory(t);
    const launcher = testKey(91);
    const now = nowS(t);
    const statement = signJwt(
      launcher,
      { typ: "JWT", kid: launcher.kid },
      { iss: "x\u0000", sub: "s", iat: now, exp: now + 60 },
    );
    const tmp = await postTemporaryAgent(t, testKey(92), {
      body: { provenance: { software_statement: statement } },
    });
    expect(tmp.statusCode, tmp.body).toBe(400);
    expect(tmp.json()).toMatchObject({
      code: "ERR_STATEMENT_INVALID",
      detail: "software_statement iss contains U+0000 or an unpaired surrogate",
    });
  });
});
