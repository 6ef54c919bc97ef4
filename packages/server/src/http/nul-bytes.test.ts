/**
 * U+0000 in any input (path, query, JSON or form body) is refused with 400 ERR_INVALID_REQUEST on
 * both stores. PostgreSQL text cannot hold it: before this rule, a NUL in a principal's name, an
 * id in a path or an audit query filter answered 500 there (while SQLite stored it).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { form, postForm } from "../test-support/oauth.js";
import { createTestDeputy, TEST_RESOURCE, type TestDeputy } from "../test-support/server.js";

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
});
