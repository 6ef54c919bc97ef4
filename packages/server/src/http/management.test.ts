/**
 * Wire tests for the /v1 management API: exact bodies, visibility between principals, and bad
 * input of every kind named in issue #2.
 */
import { GRANT_TYPE_TOKEN_EXCHANGE } from "@deputy/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dpopProof, testKey, testP256Key } from "../test-support/keys.js";
import { clientCredentials, decodeJwt, getToken, introspectAs, nowS } from "../test-support/oauth.js";
import {
  createTestDeputy,
  expectOk,
  type Story,
  setupStory,
  T0,
  TEST_ISSUER,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

let t: TestDeputy;
let s: Story;
beforeEach(async () => {
  t = await createTestDeputy();
  s = await setupStory(t);
});
afterEach(async () => t.close());

function problem(
  res: { statusCode: number; json(): any; headers: Record<string, unknown> },
  status: number,
  code: string,
) {
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect({ status: res.statusCode, code: body.code, bodyStatus: body.status }).toEqual({
    status,
    code,
    bodyStatus: status,
  });
  expect(typeof body.detail).toBe("string");
  expect(body.type).toBe(code.replace(/^ERR_/, "").toLowerCase().replace(/_/g, "-"));
}

describe("principals", () => {
  it("creates a principal with the exact wire shape", async () => {
    const res = await t.api("POST", "/v1/principals", {
      type: "service",
      name: "ci",
      email: "ci@example.com",
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^prn_[a-z2-7]{26}$/),
      type: "service",
      name: "ci",
      email: "ci@example.com",
      status: "active",
      created_at: new Date(T0).toISOString(),
      disabled_at: null,
    });
  });

  it("principal tokens are shown once and work; stored hashed", async () => {
    const res = await t.api("POST", `/v1/principals/${s.principal}/tokens`);
    expect(res.statusCode).toBe(201);
    expect(res.headers["cache-control"]).toBe("no-store");
    const { token } = res.json();
    expect(token).toMatch(/^dpp_[A-Za-z0-9_-]{43}$/);
    const me = await t.api("GET", `/v1/agents/${s.agent}`, undefined, token);
    expect(me.statusCode).toBe(200);
    // Nothing in the database holds the token itself.
    const raw = JSON.stringify(await t.deputy.store.audit.query({}, { limit: 1000 }));
    expect(raw).not.toContain(token);
  });

  it("a principal token reaching for another principal's agent gets 404, not 403", async () => {
    const other = await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Eve" }));
    const { token } = await expectOk(t.api("POST", `/v1/principals/${other.id}/tokens`));
    problem(await t.api("GET", `/v1/agents/${s.agent}`, undefined, token), 404, "ERR_NOT_FOUND");
    problem(await t.api("GET", `/v1/grants/${s.grant}`, undefined, token), 404, "ERR_NOT_FOUND");
    problem(await t.api("POST", `/v1/agents/${s.agent}/revoke`, {}, token), 404, "ERR_NOT_FOUND");
    problem(await t.api("POST", "/v1/revocations", { target: s.grant }, token), 404, "ERR_NOT_FOUND");
    problem(await t.api("GET", `/v1/principals/${s.principal}`, undefined, token), 404, "ERR_NOT_FOUND");
    problem(
      await t.api(
        "POST",
        "/v1/agents",
        { principal: s.principal, name: "x", jwks: { keys: [testKey(3).publicJwk] } },
        token,
      ),
      404,
      "ERR_NOT_FOUND",
    );
    const list = await t.api("GET", `/v1/agents?principal=${s.principal}`, undefined, token);
    expect(list.json()).toEqual({ items: [], next_cursor: null });
    // And the agent is untouched.
    expect((await t.api("GET", `/v1/agents/${s.agent}`)).json().status).toBe("active");
  });

  it("principal tokens cannot create principals or resources", async () => {
    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    problem(await t.api("POST", "/v1/principals", { type: "human", name: "x" }, token), 403, "ERR_FORBIDDEN");
    problem(
      await t.api("POST", "/v1/resources", { audience: "https://x.test", name: "x" }, token),
      403,
      "ERR_FORBIDDEN",
    );
  });

  it("a disabled principal's tokens stop working", async () => {
    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    await expectOk(t.api("POST", `/v1/principals/${s.principal}/disable`, {}));
    problem(await t.api("GET", `/v1/agents/${s.agent}`, undefined, token), 401, "ERR_UNAUTHENTICATED");
  });
});

describe("authentication", () => {
  it("no or unknown credentials → 401 with WWW-Authenticate", async () => {
    const res = await t.app.inject({ method: "GET", url: "/v1/agents" });
    problem(res, 401, "ERR_UNAUTHENTICATED");
    expect(res.headers["www-authenticate"]).toContain("Bearer");
    problem(await t.api("GET", "/v1/agents", undefined, "dpa_wrong"), 401, "ERR_UNAUTHENTICATED");
    problem(await t.api("GET", "/v1/agents", undefined, "dpp_wrong"), 401, "ERR_UNAUTHENTICATED");
  });
});

describe("agents", () => {
  it("registers an agent with the exact wire shape and its keys", async () => {
    const key = testP256Key();
    const res = await t.api("POST", "/v1/agents", {
      principal: s.principal,
      name: "reviewer",
      description: "reads PRs",
      jwks: { keys: [key.publicJwk] },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^agt_/),
      principal: s.principal,
      parent: null,
      chain: [],
      name: "reviewer",
      description: "reads PRs",
      status: "active",
      provenance: { status: "none", verified: null, self_asserted: null },
      enrollment: null,
      ceiling: null,
      temporary_until: null,
      claimed_at: null,
      created_at: new Date(T0).toISOString(),
      revoked_at: null,
      revoke_reason: null,
    });
    const shown = await expectOk(t.api("GET", `/v1/agents/${res.json().id}`));
    expect(shown.jwks.keys).toEqual([
      {
        kty: "EC",
        crv: "P-256",
        x: key.publicJwk.x,
        y: key.publicJwk.y,
        kid: key.kid,
        alg: "ES256",
        created_at: new Date(T0).toISOString(),
      },
    ]);
  });

  it("refuses a JWK with private members", async () => {
    const jwk = testKey(4).privateKey.export({ format: "jwk" });
    problem(
      await t.api("POST", "/v1/agents", { principal: s.principal, name: "x", jwks: { keys: [jwk] } }),
      400,
      "ERR_PRIVATE_KEY_MEMBERS",
    );
  });

  it("refuses unsupported key types", async () => {
    problem(
      await t.api("POST", "/v1/agents", {
        principal: s.principal,
        name: "x",
        jwks: { keys: [{ kty: "RSA", n: "AQAB", e: "AQAB" }] },
      }),
      400,
      "ERR_UNSUPPORTED_KEY",
    );
  });

  it("sub-agents carry their chain; a revoked parent takes no children", async () => {
    const child = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: s.agent,
        name: "c",
        jwks: { keys: [testKey(5).publicJwk] },
      }),
    );
    expect(child.chain).toEqual([s.agent]);
    const grandchild = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: child.id,
        name: "g",
        jwks: { keys: [testKey(6).publicJwk] },
      }),
    );
    expect(grandchild.chain).toEqual([child.id, s.agent]);
    const page = await expectOk(t.api("GET", `/v1/agents?parent=${s.agent}`));
    expect(page.items.map((a: { id: string }) => a.id)).toEqual([child.id]);
    await t.api("POST", `/v1/agents/${s.agent}/revoke`, {});
    problem(
      await t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: s.agent,
        name: "late",
        jwks: { keys: [testKey(7).publicJwk] },
      }),
      409,
      "ERR_AGENT_REVOKED",
    );
  });

  it("adds and removes keys; never the last one", async () => {
    const k2 = testKey(8);
    const added = await t.api("POST", `/v1/agents/${s.agent}/keys`, { jwk: k2.publicJwk });
    expect(added.statusCode).toBe(201);
    expect(added.json().kid).toBe(k2.kid);
    problem(await t.api("POST", `/v1/agents/${s.agent}/keys`, { jwk: k2.publicJwk }), 409, "ERR_CONFLICT");
    expect((await t.api("DELETE", `/v1/agents/${s.agent}/keys/${s.agentKey.kid}`)).statusCode).toBe(204);
    // The removed key no longer authenticates; the new one does.
    const old = await clientCredentials(t, s.agent, s.agentKey);
    expect([old.statusCode, old.json().error]).toEqual([401, "invalid_client"]);
    expect((await clientCredentials(t, s.agent, k2)).statusCode).toBe(200);
    problem(await t.api("DELETE", `/v1/agents/${s.agent}/keys/${k2.kid}`), 409, "ERR_LAST_KEY");
  });

  it("paginates with opaque cursors and refuses forged ones", async () => {
    for (let i = 0; i < 5; i++) {
      t.clock.advance(1000);
      await expectOk(
        t.api("POST", "/v1/agents", {
          principal: s.principal,
          name: `a${i}`,
          jwks: { keys: [testKey(20 + i).publicJwk] },
        }),
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string }[]; next_cursor: string | null } = await expectOk(
        t.api("GET", `/v1/agents?limit=2${cursor ? `&cursor=${cursor}` : ""}`),
      );
      seen.push(...page.items.map((a) => a.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    problem(await t.api("GET", "/v1/agents?cursor=!!!"), 400, "ERR_INVALID_CURSOR");
    problem(await t.api("GET", "/v1/agents?limit=100000"), 400, "ERR_INVALID_REQUEST");
  });
});

describe("grants and resources", () => {
  it("grants need registered resources", async () => {
    problem(
      await t.api("POST", "/v1/grants", {
        agent: s.agent,
        scopes: ["read"],
        resources: ["https://unregistered.test"],
        expires_at: new Date(T0 + 1000_000).toISOString(),
      }),
      400,
      "ERR_UNKNOWN_RESOURCE",
    );
  });

  it("a sub-agent's grant can never exceed or outlive its parent's", async () => {
    const child = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: s.agent,
        name: "c",
        jwks: { keys: [testKey(5).publicJwk] },
      }),
    );
    const base = {
      agent: child.id,
      resources: [TEST_RESOURCE],
      expires_at: new Date(T0 + 3_600_000).toISOString(),
    };
    problem(
      await t.api("POST", "/v1/grants", { ...base, scopes: ["admin"] }),
      400,
      "ERR_DELEGATION_WIDENS_SCOPE",
    );
    problem(
      await t.api("POST", "/v1/grants", {
        ...base,
        scopes: ["read"],
        expires_at: new Date(T0 + 2 * 86_400_000).toISOString(),
      }),
      400,
      "ERR_DELEGATION_OUTLIVES_PARENT",
    );
    problem(
      await t.api("POST", "/v1/grants", { ...base, scopes: ["read"], max_delegation_depth: 1 }),
      400,
      "ERR_DELEGATION_DEPTH_EXCEEDED",
    );
    const ok = await t.api("POST", "/v1/grants", { ...base, scopes: ["read"] });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ parent_grant: s.grant, scopes: ["read"], max_delegation_depth: 0 });
  });

  it("resources: secret shown once; duplicate audience conflicts", async () => {
    const res = await t.api("POST", "/v1/resources", { audience: "https://mcp.example.test/", name: "MCP" });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^res_/),
      audience: "https://mcp.example.test/",
      name: "MCP",
      allow_bearer: false,
      builtin: false,
      require_provenance: false,
      code_digests: null,
      accept_unbound_provenance: false,
      created_at: new Date(T0).toISOString(),
      client_secret: expect.stringMatching(/^drs_/),
    });
    const shown = await expectOk(t.api("GET", `/v1/resources/${res.json().id}`));
    expect(shown.client_secret).toBeUndefined();
    problem(
      await t.api("POST", "/v1/resources", { audience: "https://mcp.example.test/", name: "again" }),
      409,
      "ERR_CONFLICT",
    );
    problem(
      await t.api("POST", "/v1/resources", { audience: "not a uri", name: "bad" }),
      400,
      "ERR_INVALID_REQUEST",
    );
  });
});

describe("bad input never yields a 500", () => {
  const post = (url: string, payload: string, type = "application/json") =>
    t.app.inject({
      method: "POST",
      url,
      headers: {
        authorization: "Bearer dpa_test-admin-token-0123456789abcdefghijklmnop",
        "content-type": type,
      },
      payload,
    });

  it("malformed JSON", async () => problem(await post("/v1/principals", "{nope"), 400, "ERR_MALFORMED_JSON"));
  it("unknown fields", async () =>
    problem(
      await post("/v1/principals", JSON.stringify({ type: "human", name: "x", admin: true })),
      400,
      "ERR_INVALID_REQUEST",
    ));
  it("wrong types", async () =>
    problem(
      await post("/v1/principals", JSON.stringify({ type: "robot", name: 7 })),
      400,
      "ERR_INVALID_REQUEST",
    ));
  it("body over the limit", async () =>
    problem(
      await post("/v1/principals", JSON.stringify({ type: "human", name: "x".repeat(70_000) })),
      413,
      "ERR_BODY_TOO_LARGE",
    ));
  it("wrong content type", async () =>
    problem(await post("/v1/principals", "type=human", "text/plain"), 415, "ERR_UNSUPPORTED_MEDIA_TYPE"));
  it("a JSON array body", async () =>
    problem(await post("/v1/principals", "[]"), 400, "ERR_INVALID_REQUEST"));
  it("unknown route", async () => problem(await t.api("GET", "/v1/nothing"), 404, "ERR_ROUTE_NOT_FOUND"));
  it("a known path with a method it does not take: 405 with Allow (RFC 9110 §15.5.6)", async () => {
    const res = await t.api("DELETE", "/v1/principals");
    problem(res, 405, "ERR_METHOD_NOT_ALLOWED");
    expect(res.headers.allow).toBe("GET, HEAD, POST");
    expect(res.json().detail).toBe("DELETE is not allowed on /v1/principals; allowed: GET, HEAD, POST");
    // A path with a parameter, and an OAuth endpoint (an RFC 6749 error body there).
    const agent = await t.api("PUT", "/v1/agents/agt_aaaaaaaaaaaaaaaaaaaaaaaaaa");
    problem(agent, 405, "ERR_METHOD_NOT_ALLOWED");
    expect(agent.headers.allow).toBe("GET, HEAD");
    const token = await t.app.inject({ method: "GET", url: "/oauth/token" });
    expect(token.statusCode).toBe(405);
    expect(token.headers.allow).toBe("POST");
    expect(token.json()).toEqual({
      error: "invalid_request",
      error_description: "GET is not allowed on /oauth/token; allowed: POST",
    });
  });
  it("malformed ids", async () => {
    problem(await t.api("GET", "/v1/agents/agt_nope"), 404, "ERR_NOT_FOUND");
    problem(await t.api("POST", "/v1/revocations", { target: "usr_123" }), 400, "ERR_INVALID_REQUEST");
    // Token ids of both forms are well-formed targets (unknown here: 404); a time part holding
    // base32 digits is neither form.
    problem(
      await t.api("POST", "/v1/revocations", { target: "tok_ds3g6yxy3xlt46ckoykp72qsfy" }),
      404,
      "ERR_NOT_FOUND",
    );
    problem(
      await t.api("POST", "/v1/revocations", { target: "tok_aipmqufrumds3g6yxy3xlt46ckoykp72qsfy" }),
      404,
      "ERR_NOT_FOUND",
    );
    problem(
      await t.api("POST", "/v1/revocations", { target: "tok_aipmqufru2ds3g6yxy3xlt46ckoykp72qsfy" }),
      400,
      "ERR_INVALID_REQUEST",
    );
    problem(
      await t.api("POST", "/v1/grants", {
        agent: "nope",
        scopes: ["a"],
        resources: [TEST_RESOURCE],
        expires_at: "tomorrow",
      }),
      400,
      "ERR_INVALID_REQUEST",
    );
  });
});

describe("agents calling /v1 with DPoP-bound tokens", () => {
  async function agentToken(scopes: string[]) {
    // Grant the agent authority over Deputy's own API (audience = issuer).
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: s.agent,
        scopes,
        resources: [TEST_ISSUER],
        expires_at: new Date(T0 + 3_600_000).toISOString(),
      }),
    );
    return getToken(t, s.agent, s.agentKey, { resource: TEST_ISSUER, scope: scopes.join(" ") });
  }
  function asAgent(
    method: string,
    url: string,
    token: string,
    body?: unknown,
    proofOverrides: Record<string, unknown> = {},
  ) {
    const proof = dpopProof(
      s.agentKey,
      { htm: method, htu: `${TEST_ISSUER}${url.split("?")[0]}`, iat: nowS(t), accessToken: token },
      proofOverrides,
    );
    return t.app.inject({
      method: method as "POST",
      url,
      headers: {
        authorization: `DPoP ${token}`,
        dpop: proof,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { payload: JSON.stringify(body) } : {}),
    });
  }

  it("an agent with agents:delegate creates its own sub-agent", async () => {
    const token = await agentToken(["agents:delegate"]);
    const res = await asAgent("POST", "/v1/agents", token, {
      principal: s.principal,
      parent: s.agent,
      name: "helper",
      jwks: { keys: [testKey(30).publicJwk] },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ parent: s.agent, chain: [s.agent], principal: s.principal });
    // It sees its sub-agent, but not its siblings' or its principal's other agents.
    const list = await asAgent("GET", "/v1/agents", token);
    expect(list.json().items.map((a: { id: string }) => a.id)).toEqual([res.json().id]);
  });

  it("without agents:delegate it may not", async () => {
    const token = await agentToken(["read"]);
    const res = await asAgent("POST", "/v1/agents", token, {
      principal: s.principal,
      parent: s.agent,
      name: "helper",
      jwks: { keys: [testKey(31).publicJwk] },
    });
    problem(res, 403, "ERR_INSUFFICIENT_SCOPE");
  });

  it("stolen-token-persistence: an agent can never add a key to itself, whatever its scope", async () => {
    const token = await agentToken(["agents:delegate"]);
    const res = await asAgent("POST", `/v1/agents/${s.agent}/keys`, token, { jwk: testKey(40).publicJwk });
    problem(res, 403, "ERR_FORBIDDEN");
    const grant = await asAgent("POST", "/v1/grants", token, {
      agent: s.agent,
      scopes: ["read"],
      resources: [TEST_RESOURCE],
      expires_at: new Date(T0 + 60_000).toISOString(),
    });
    problem(grant, 403, "ERR_FORBIDDEN");
    const keys = await expectOk(t.api("GET", `/v1/agents/${s.agent}/keys`));
    expect(keys.items.map((k: { kid: string }) => k.kid)).toEqual([s.agentKey.kid]);
  });

  it("changing a sub-agent needs agents:delegate; revoking it does not", async () => {
    const child = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: s.principal,
        parent: s.agent,
        name: "c",
        jwks: { keys: [testKey(41).publicJwk] },
      }),
    );
    const token = await agentToken(["read"]);
    problem(
      await asAgent("POST", `/v1/agents/${child.id}/keys`, token, { jwk: testKey(42).publicJwk }),
      403,
      "ERR_INSUFFICIENT_SCOPE",
    );
    problem(
      await asAgent("POST", "/v1/grants", token, {
        agent: child.id,
        scopes: ["read"],
        resources: [TEST_RESOURCE],
        expires_at: new Date(T0 + 60_000).toISOString(),
      }),
      403,
      "ERR_INSUFFICIENT_SCOPE",
    );
    const revoked = await asAgent("POST", `/v1/agents/${child.id}/revoke`, token, {});
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revoked.agents).toBe(1);
  });

  it("a token for another audience is refused at /v1", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    problem(await asAgent("GET", "/v1/agents", token), 401, "ERR_INVALID_TOKEN");
  });

  it("DPoP is checked at /v1: missing, wrong htu, replayed, other key, ath mismatch", async () => {
    const token = await agentToken(["agents:delegate"]);
    const noProof = await t.app.inject({
      method: "GET",
      url: "/v1/agents",
      headers: { authorization: `DPoP ${token}` },
    });
    problem(noProof, 401, "ERR_DPOP_REQUIRED");
    expect(noProof.headers["www-authenticate"]).toBe('DPoP error="invalid_dpop_proof", algs="EdDSA ES256"');
    problem(
      await asAgent("GET", "/v1/agents", token, undefined, { htu: `${TEST_ISSUER}/v1/grants` }),
      401,
      "ERR_INVALID_DPOP_PROOF",
    );
    problem(
      await asAgent("GET", "/v1/agents", token, undefined, { ath: "x" }),
      401,
      "ERR_INVALID_DPOP_PROOF",
    );
    const proof = dpopProof(s.agentKey, {
      htm: "GET",
      htu: `${TEST_ISSUER}/v1/agents`,
      iat: nowS(t),
      accessToken: token,
    });
    const send = () =>
      t.app.inject({
        method: "GET",
        url: "/v1/agents",
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      });
    expect((await send()).statusCode).toBe(200);
    problem(await send(), 401, "ERR_INVALID_DPOP_PROOF");
    const thief = testKey(50);
    const stolen = dpopProof(thief, {
      htm: "GET",
      htu: `${TEST_ISSUER}/v1/agents`,
      iat: nowS(t),
      accessToken: token,
    });
    problem(
      await t.app.inject({
        method: "GET",
        url: "/v1/agents",
        headers: { authorization: `DPoP ${token}`, dpop: stolen },
      }),
      401,
      "ERR_INVALID_DPOP_PROOF",
    );
    // A DPoP-bound token presented as a bearer token is refused (RFC 9449 §7.1).
    problem(await t.api("GET", "/v1/agents", undefined, token), 401, "ERR_INVALID_TOKEN");
  });
});

describe("DPoP nonces at /v1 (RFC 9449 §9)", () => {
  it("a proof without the server nonce gets 401 use_dpop_nonce with a fresh DPoP-Nonce", async () => {
    await t.close();
    t = await createTestDeputy({ dpopNonce: true });
    s = await setupStory(t);
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: s.agent,
        scopes: ["agents:delegate"],
        resources: [TEST_ISSUER],
        expires_at: new Date(T0 + 3_600_000).toISOString(),
      }),
    );
    const first = await clientCredentials(t, s.agent, s.agentKey, { resource: TEST_ISSUER });
    const nonce = first.headers["dpop-nonce"] as string;
    const proof = dpopProof(s.agentKey, {
      htm: "POST",
      htu: `${TEST_ISSUER}/oauth/token`,
      iat: nowS(t),
      nonce,
    });
    const issued = await clientCredentials(t, s.agent, s.agentKey, { resource: TEST_ISSUER, proof });
    const token = issued.json().access_token;
    const stale = dpopProof(s.agentKey, {
      htm: "GET",
      htu: `${TEST_ISSUER}/v1/agents`,
      iat: nowS(t),
      accessToken: token,
    });
    const res = await t.app.inject({
      method: "GET",
      url: "/v1/agents",
      headers: { authorization: `DPoP ${token}`, dpop: stale },
    });
    problem(res, 401, "ERR_USE_DPOP_NONCE");
    expect(res.headers["www-authenticate"]).toBe('DPoP error="use_dpop_nonce", algs="EdDSA ES256"');
    const fresh = res.headers["dpop-nonce"] as string;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const retry = dpopProof(s.agentKey, {
      htm: "GET",
      htu: `${TEST_ISSUER}/v1/agents`,
      iat: nowS(t),
      accessToken: token,
      nonce: fresh,
    });
    const ok = await t.app.inject({
      method: "GET",
      url: "/v1/agents",
      headers: { authorization: `DPoP ${token}`, dpop: retry },
    });
    expect(ok.statusCode).toBe(200);
  });
});

describe("issuer key rotation", () => {
  it("the retired key stays in the JWKS until its last token expires, then leaves", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const oldKid = decodeJwt(token).header.kid;
    const rotated = await expectOk(t.api("POST", "/v1/keys/rotate", {}));
    expect(rotated.retired_kid).toBe(oldKid);
    expect(rotated.retired_published_until).toBe(new Date(T0 + 300_000 + 60_000).toISOString());
    const kids = async () =>
      (await t.app.inject({ method: "GET", url: "/.well-known/jwks.json" }))
        .json()
        .keys.map((k: { kid: string }) => k.kid);
    expect(await kids()).toEqual(expect.arrayContaining([oldKid, rotated.active_kid]));
    // Old tokens still verify; new ones are signed by the new key.
    expect((await introspectAs(t, s.resource, token)).json().active).toBe(true);
    expect(decodeJwt(await getToken(t, s.agent, s.agentKey)).header.kid).toBe(rotated.active_kid);
    t.clock.advance(360_001);
    await t.deputy.keys.reload();
    expect(await kids()).toEqual([rotated.active_kid]);
  });

  it("only the admin rotates", async () => {
    const { token } = await expectOk(t.api("POST", `/v1/principals/${s.principal}/tokens`));
    problem(await t.api("POST", "/v1/keys/rotate", {}, token), 403, "ERR_FORBIDDEN");
  });
});

describe("discovery", () => {
  it("publishes RFC 8414 metadata", async () => {
    const res = await t.app.inject({ method: "GET", url: "/.well-known/oauth-authorization-server" });
    expect(res.json()).toMatchObject({
      issuer: TEST_ISSUER,
      token_endpoint: `${TEST_ISSUER}/oauth/token`,
      jwks_uri: `${TEST_ISSUER}/.well-known/jwks.json`,
      introspection_endpoint: `${TEST_ISSUER}/oauth/introspect`,
      revocation_endpoint: `${TEST_ISSUER}/oauth/revoke`,
      grant_types_supported: ["client_credentials", GRANT_TYPE_TOKEN_EXCHANGE],
      token_endpoint_auth_methods_supported: ["private_key_jwt"],
      dpop_signing_alg_values_supported: ["EdDSA", "ES256"],
      deputy_api: `${TEST_ISSUER}/v1`,
    });
    const jwks = (await t.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json();
    expect(jwks.keys).toEqual([
      {
        kty: "OKP",
        crv: "Ed25519",
        x: expect.any(String),
        kid: t.deputy.keys.activeKid,
        alg: "EdDSA",
        use: "sig",
      },
    ]);
  });
});
