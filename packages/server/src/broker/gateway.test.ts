/**
 * The broker at the wire: connections, the /proxy gateway and approvals, against a real upstream
 * node:http server on loopback, on whichever store the run uses (SQLite, or PostgreSQL with
 * DEPUTY_TEST_DATABASE_URL). Each attack from issue #5's "Bad input" list is a named test that
 * asserts the exact status and problem body, and that the upstream never saw the call.
 */
import { createServer, request } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { Writable } from "node:stream";
import { compactVerify, createLocalJWKSet } from "jose";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { dpopProof, type TestKey, testKey } from "../test-support/keys.js";
import { getToken, nowS } from "../test-support/oauth.js";
import { createTestDeputy, expectOk, T0, TEST_ISSUER, type TestDeputy } from "../test-support/server.js";
import { startUpstream, type Upstream } from "../test-support/upstream.js";
import { RateLimiter } from "./rate-limit.js";
import { ConnectionCache } from "./runtime.js";

const SECRET = "ghp_SuperSecretUpstreamToken_0123456789";
const AUD = "urn:deputy:connection:github";
const SCOPES = "issues:read issues:write";
const AUD_Q = "https://q.example.test";

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

let t: TestDeputy;
let up: Upstream;
let port: number;
const logLines: string[] = [];
let principal: string;
let principalToken: string;
let agent: string;
let key: TestKey;
let token: string;
let grant: string;

function send(opts: {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method,
        path: opts.path,
        headers: opts.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** A DPoP-authenticated call through the gateway; the proof's htu is the issuer's proxy URL. */
function call(
  method: string,
  path: string,
  opts: { body?: string; headers?: Record<string, string>; token?: string; key?: TestKey; htu?: string } = {},
): Promise<Res> {
  const tok = opts.token ?? token;
  const k = opts.key ?? key;
  const proof = dpopProof(k, {
    htm: method,
    htu: opts.htu ?? `${TEST_ISSUER}${path.split("?")[0]}`,
    iat: nowS(t),
    accessToken: tok,
  });
  return send({
    method,
    path,
    headers: {
      authorization: `DPoP ${tok}`,
      dpop: proof,
      // node:http sends no framing for a DELETE body unless told its length.
      ...(opts.body !== undefined
        ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(opts.body)) }
        : {}),
      ...opts.headers,
    },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
}

/** What a refused approval retry can always do instead (the end of several details). */
const HOLD_AGAIN = "send the request without Deputy-Approval to have it held for an approval";
const REVOKED =
  "the access token is revoked; request a new one (refused too if the agent, its grant or its principal was revoked)";

function problem(status: number, code: string, extra: Record<string, unknown> = {}) {
  return expect.objectContaining({
    type: code.replace(/^ERR_/, "").toLowerCase().replace(/_/g, "-"),
    status,
    code,
    ...extra,
  });
}

async function auditEntries(): Promise<string[]> {
  const n = await t.deputy.store.audit.size();
  return t.deputy.store.audit.entries(0, n);
}

let mark = 0;

/**
 * Audit entries of calls are recorded after the response: waits for the newest entry with this
 * action appended since the current test began.
 */
async function lastAudit(
  action: string,
  match: (e: Record<string, any>) => boolean = () => true,
): Promise<Record<string, any>> {
  for (let i = 0; i < 200; i++) {
    const found = (await auditEntries())
      .slice(mark)
      .map((e) => JSON.parse(e))
      .filter((e) => e.action === action && match(e));
    if (found.length > 0) return found[found.length - 1];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${action} entry`);
}

beforeAll(async () => {
  up = await startUpstream();
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  t = await createTestDeputy({
    brokerAllowHttpLoopback: true,
    brokerUpstreamTimeout: 300,
    brokerRateLimit: 0,
    logger: pino({ level: "debug" }, sink),
  });
  await t.app.listen({ port: 0, host: "127.0.0.1" });
  const address = t.app.server.address();
  port = typeof address === "object" && address ? address.port : 0;

  principal = (await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Ada" }))).id;
  principalToken = (await expectOk(t.api("POST", `/v1/principals/${principal}/tokens`))).token;
  const created = await t.api("POST", "/v1/connections", {
    name: "github",
    upstream: `${up.url}/base`,
    auth: { type: "bearer", secret: SECRET },
    rules: [
      { scope: "issues:read", methods: ["GET"], paths: ["/repos/*/*/issues", "/repos/*/*/issues/*"] },
      {
        scope: "issues:write",
        methods: ["POST"],
        paths: ["/repos/*/*/issues", "/hang", "/reset", "/garbage", "/cut", "/big"],
      },
      { scope: "issues:write", methods: ["DELETE"], paths: ["/repos/*/*/issues/*"], approval: "required" },
    ],
  });
  expect(created.statusCode).toBe(201);
  key = testKey(1);
  agent = (
    await expectOk(
      t.api("POST", "/v1/agents", { principal, name: "triage", jwks: { keys: [key.publicJwk] } }),
    )
  ).id;
  grant = (
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent,
        scopes: [...SCOPES.split(" "), "approvals:review"],
        resources: [AUD, TEST_ISSUER],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    )
  ).id;
  token = await getToken(t, agent, key, { scope: SCOPES, resource: AUD });
});

afterAll(async () => {
  await t?.close();
  await up?.close();
});

beforeEach(async () => {
  up.requests.length = 0;
  // Let the previous test's call entries land first, then only look at newer ones.
  await new Promise((r) => setTimeout(r, 30));
  mark = await t.deputy.store.audit.size();
});

describe("connections API", () => {
  it("creates a connection without ever returning its secret", async () => {
    const res = await t.api("GET", "/v1/connections/github");
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^con_[a-z2-7]{26}$/),
      name: "github",
      upstream: `${up.url}/base`,
      audience: AUD,
      resource: expect.stringMatching(/^res_/),
      auth: { type: "bearer" },
      rules: expect.any(Array),
      secret: { version: 1, key_id: expect.stringMatching(/^key_/), rotated_at: expect.any(String) },
      created_at: new Date(T0).toISOString(),
    });
    const list = await t.api("GET", "/v1/connections?limit=1");
    expect(list.json()).toEqual({ items: [expect.objectContaining({ name: "github" })], next_cursor: null });
    const resource = await t.api("GET", `/v1/resources/${res.json().resource}`);
    expect(resource.json()).toMatchObject({ audience: AUD, builtin: false });
  });

  it("refuses a plain-http upstream that is not loopback", async () => {
    const res = await t.api("POST", "/v1/connections", {
      name: "evil",
      upstream: "http://example.com",
      auth: { type: "bearer", secret: "x" },
      rules: [{ scope: "a", methods: ["GET"], paths: ["/**"] }],
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual(problem(400, "ERR_INVALID_UPSTREAM"));
  });

  it("refuses unknown fields, a header auth without a name, and a duplicate name", async () => {
    const base = {
      name: "x1",
      upstream: "https://api.example.com",
      auth: { type: "bearer", secret: "s" },
      rules: [{ scope: "a", methods: ["GET"], paths: ["/**"] }],
    };
    const unknown = await t.api("POST", "/v1/connections", { ...base, extra: 1 });
    expect(unknown.json()).toEqual(
      problem(400, "ERR_INVALID_REQUEST", { detail: "unknown field(s): extra" }),
    );
    const noName = await t.api("POST", "/v1/connections", { ...base, auth: { type: "header", secret: "s" } });
    expect(noName.json()).toEqual(
      problem(400, "ERR_INVALID_REQUEST", { detail: "auth.name is required for auth type header" }),
    );
    const dup = await t.api("POST", "/v1/connections", { ...base, name: "github" });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toEqual(problem(409, "ERR_CONFLICT"));
  });

  it("is admin-only for writes; a principal token may read", async () => {
    const res = await t.api(
      "POST",
      "/v1/connections",
      {
        name: "p1",
        upstream: "https://a.example",
        auth: { type: "bearer", secret: "s" },
        rules: [{ scope: "a", methods: ["GET"], paths: ["/"] }],
      },
      principalToken,
    );
    expect(res.statusCode).toBe(403);
    expect((await t.api("GET", "/v1/connections/github", undefined, principalToken)).statusCode).toBe(200);
  });
});

describe("gateway", () => {
  it("forwards an allowed call with the credential injected and Deputy's headers stripped", async () => {
    const res = await call("GET", "/proxy/github/repos/acme/app/issues?state=open", {
      headers: {
        cookie: "deputy_session=abc",
        "x-forwarded-for": "10.0.0.1",
        "x-forwarded-host": "evil.example",
        forwarded: "for=10.0.0.1",
        connection: "keep-alive, x-drop-me",
        "x-drop-me": "1",
        "x-keep": "2",
      },
    });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({
      method: "GET",
      url: "/base/repos/acme/app/issues?state=open",
      body_length: 0,
    });
    expect(res.headers["x-upstream"]).toBe("yes");
    expect(res.headers["set-cookie"]).toBeUndefined();
    expect(res.headers["x-hop"]).toBeUndefined();
    const seen = up.requests[0]!;
    expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(seen.headers["x-keep"]).toBe("2");
    for (const h of [
      "dpop",
      "cookie",
      "x-forwarded-for",
      "x-forwarded-host",
      "forwarded",
      "x-drop-me",
      "deputy-approval",
    ]) {
      expect(seen.headers[h]).toBeUndefined();
    }
    const entry = await lastAudit("broker.call_allowed", (e) => e.request.method === "GET");
    expect(entry).toMatchObject({
      decision: "allowed",
      actor: { agent, chain: [], principal, kind: "agent" },
      resource: AUD,
      grant_id: grant,
      request: { method: "GET", url: "/proxy/github/repos/acme/app/issues" },
      details: {
        connection: "github",
        path: "/repos/acme/app/issues",
        upstream_status: 200,
        bytes_in: 0,
        bytes_out: res.body.length,
        approval_id: null,
        scope: "issues:read",
      },
    });
    expect(entry.details.latency_ms).toEqual(expect.any(Number));
  });

  it("streams a request body to the upstream and records its SHA-256", async () => {
    const body = JSON.stringify({ title: "bug", text: "y".repeat(10_000) });
    const res = await call("POST", "/proxy/github/repos/acme/app/issues", { body });
    expect(res.status).toBe(200);
    expect(up.requests[0]!.body.toString()).toBe(body);
    const entry = await lastAudit("broker.call_allowed", (e) => e.request.method === "POST");
    const { createHash } = await import("node:crypto");
    expect(entry.request.body_sha256).toBe(createHash("sha256").update(body).digest("hex"));
    expect(entry.details.bytes_in).toBe(Buffer.byteLength(body));
  });

  it("request-smuggling: a chunked GET body is re-framed on the upstream hop, never sent raw", async () => {
    const path = "/proxy/github/repos/acme/app/issues";
    const smuggled = "GET /base/smuggled HTTP/1.1\r\nHost: upstream\r\n\r\n";
    const res = await send({
      method: "GET",
      path,
      headers: {
        authorization: `DPoP ${token}`,
        dpop: dpopProof(key, { htm: "GET", htu: `${TEST_ISSUER}${path}`, iat: nowS(t), accessToken: token }),
        "transfer-encoding": "chunked",
      },
      body: smuggled,
    });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100)); // a smuggled request would arrive just after
    expect(up.requests.map((r) => r.url)).toEqual(["/base/repos/acme/app/issues"]);
    expect(up.requests[0]!.body.toString()).toBe(smuggled);
  });

  it("request-smuggling: `Connection: Content-Length` cannot strip the body's framing on the upstream hop", async () => {
    const path = "/proxy/github/repos/acme/app/issues";
    const smuggled =
      "POST /base/repos/attacker/x/issues HTTP/1.1\r\nHost: upstream\r\nContent-Length: 300\r\n\r\n";
    const res = await send({
      method: "GET",
      path,
      headers: {
        authorization: `DPoP ${token}`,
        dpop: dpopProof(key, { htm: "GET", htu: `${TEST_ISSUER}${path}`, iat: nowS(t), accessToken: token }),
        connection: "keep-alive, Content-Length",
        "content-length": String(Buffer.byteLength(smuggled)),
      },
      body: smuggled,
    });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100)); // a smuggled request would arrive just after
    expect(up.requests.map((r) => `${r.method} ${r.url}`)).toEqual(["GET /base/repos/acme/app/issues"]);
    expect(up.requests[0]!.headers["content-length"]).toBe(String(Buffer.byteLength(smuggled)));
    expect(up.requests[0]!.body.toString()).toBe(smuggled);
  });

  it("method-override: X-HTTP-Method-Override and URL-rewrite headers never reach the upstream", async () => {
    const overrides = {
      "x-http-method-override": "DELETE",
      "x-http-method": "DELETE",
      "x-method-override": "DELETE",
      "x-original-url": "/base/admin",
      "x-rewrite-url": "/base/admin",
    };
    const res = await call("POST", "/proxy/github/repos/acme/app/issues", { body: "{}", headers: overrides });
    expect(res.status).toBe(200);
    expect(up.requests).toHaveLength(1);
    for (const name of Object.keys(overrides)) expect(up.requests[0]!.headers[name]).toBeUndefined();
  });

  it("method-not-allowed: no rule allows PUT", async () => {
    const res = await call("PUT", "/proxy/github/repos/acme/app/issues");
    expect(res.status).toBe(403);
    expect(res.json()).toEqual({
      type: "call-not-allowed",
      title: "No rule of the token's scopes allows this call",
      status: 403,
      detail: `no rule of connection github allows PUT /repos/acme/app/issues for scopes "${SCOPES}", nor for any other scope; the call cannot be made unless an admin adds a rule for it`,
      code: "ERR_CALL_NOT_ALLOWED",
    });
    expect(up.requests).toHaveLength(0);
    expect(await lastAudit("broker.call_denied", (e) => e.request.method === "PUT")).toMatchObject({
      decision: "denied",
      actor: { agent },
      details: { code: "ERR_CALL_NOT_ALLOWED" },
    });
  });

  it("a call another scope's rule allows names the token to ask for", async () => {
    const readOnly = await getToken(t, agent, key, { scope: "issues:read", resource: AUD });
    const post = await call("POST", "/proxy/github/repos/acme/app/issues", { body: "{}", token: readOnly });
    expect(post.status).toBe(403);
    expect(post.json()).toEqual({
      type: "call-not-allowed",
      title: "No rule of the token's scopes allows this call",
      status: 403,
      detail: `no rule of connection github allows POST /repos/acme/app/issues for scopes "issues:read"; request a token with audience ${AUD} and scope issues:write (its rule allows POST /repos/*/*/issues)`,
      code: "ERR_CALL_NOT_ALLOWED",
    });
    const del = await call("DELETE", "/proxy/github/repos/acme/app/issues/3", { token: readOnly });
    expect(del.json()).toEqual(
      problem(403, "ERR_CALL_NOT_ALLOWED", {
        detail: `no rule of connection github allows DELETE /repos/acme/app/issues/3 for scopes "issues:read"; request a token with audience ${AUD} and scope issues:write (its rule allows DELETE /repos/*/*/issues/*, with an approval)`,
      }),
    );
    expect(up.requests).toHaveLength(0);
  });

  it("path outside every glob is refused", async () => {
    const res = await call("GET", "/proxy/github/admin/users");
    expect(res.status).toBe(403);
    expect(res.json()).toEqual(problem(403, "ERR_CALL_NOT_ALLOWED"));
  });

  for (const [name, path] of [
    ["path-traversal-dotdot", "/proxy/github/repos/acme/app/issues/../../../../admin"],
    ["path-traversal-encoded-dots", "/proxy/github/repos/acme/app/issues/%2e%2e/%2E%2E/admin"],
    ["encoded-slash", "/proxy/github/repos/acme/app/issues/1%2F..%2F..%2Fadmin"],
    ["encoded-backslash", "/proxy/github/repos/acme/app/issues/1%5c..%5cadmin"],
    ["double-encoding", "/proxy/github/repos/acme/app/issues/%252e%252e"],
    ["nul-byte", "/proxy/github/repos/acme/app/issues/1%00"],
    ["crlf-in-path", "/proxy/github/repos/acme/app/issues/1%0d%0aX-Injected:%20yes"],
    ["dot-segment", "/proxy/github/repos/acme/./app/issues"],
    ["dotdot-with-path-parameter", "/proxy/github/repos/..;/..;/issues"],
    ["encoded-dotdot-with-path-parameter", "/proxy/github/repos/acme/%2e%2e;x/issues"],
    ["empty-segment", "/proxy/github/repos//acme/app/issues"],
    ["malformed-escape", "/proxy/github/repos/acme/app/issues/%zz"],
  ] as const) {
    it(`${name} is refused before anything reaches the upstream`, async () => {
      const res = await call("GET", path);
      expect(res.status).toBe(400);
      expect(res.json()).toEqual(problem(400, "ERR_PROXY_PATH_INVALID"));
      expect(up.requests).toHaveLength(0);
    });
  }

  it("a refused path says what to send instead", async () => {
    const res = await call("GET", "/proxy/github/repos/acme/../app/issues");
    expect(res.json()).toEqual({
      type: "proxy-path-invalid",
      title: expect.any(String),
      status: 400,
      detail:
        "'.' and '..' segments are not allowed, also with ';' parameters; resolve them before sending the path (RFC 3986 §5.2.4)",
      code: "ERR_PROXY_PATH_INVALID",
    });
  });

  it("crlf-header-injection: a raw CR/LF inside a header value never reaches the upstream", async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = connect(port, "127.0.0.1", () => {
        s.write(
          `GET /proxy/github/repos/acme/app/issues HTTP/1.1\r\nHost: x\r\nX-A: a\rInjected: yes\r\nAuthorization: DPoP ${token}\r\n\r\n`,
        );
      });
      let out = "";
      s.on("data", (d) => {
        out += String(d);
      });
      s.on("close", () => resolve(out));
      s.on("error", () => resolve(out));
    });
    expect(raw.startsWith("HTTP/1.1 400")).toBe(true);
    expect(up.requests).toHaveLength(0);
  });

  it("host-header-trick: a proof for the Host the agent sent is refused (htu is the issuer's URL)", async () => {
    const res = await call("GET", "/proxy/github/repos/acme/app/issues", {
      headers: { host: "evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
      htu: "https://evil.example/proxy/github/repos/acme/app/issues",
    });
    expect(res.status).toBe(401);
    expect(res.json()).toEqual(problem(401, "ERR_INVALID_DPOP_PROOF"));
    expect(res.headers["www-authenticate"]).toBe('DPoP error="invalid_dpop_proof", algs="EdDSA ES256"');
    expect(up.requests).toHaveLength(0);
  });

  it("oversized-headers: answers 431 problem+json", async () => {
    const res = await call("GET", "/proxy/github/repos/acme/app/issues", {
      headers: { "x-big": "a".repeat(20_000) },
    });
    expect(res.status).toBe(431);
    expect(res.json()).toEqual(
      problem(431, "ERR_PROXY_HEADERS_TOO_LARGE", {
        detail: `request headers exceed ${t.deputy.config.brokerMaxHeaderBytes} bytes; send fewer or shorter headers`,
      }),
    );
    expect(up.requests).toHaveLength(0);
  });

  it("token-for-another-connection is refused", async () => {
    await expectOk(
      t.api("POST", "/v1/connections", {
        name: "slack",
        upstream: up.url,
        auth: { type: "header", name: "X-Api-Key", secret: "slack-secret-xyz" },
        rules: [{ scope: "issues:read", methods: ["GET"], paths: ["/**"] }],
      }),
    );
    const res = await call("GET", "/proxy/slack/anything");
    expect(res.status).toBe(401);
    expect(res.json()).toEqual(
      problem(401, "ERR_INVALID_TOKEN", {
        detail:
          "the access token is meant for another audience; request a token with resource=urn:deputy:connection:slack for connection slack",
      }),
    );
    expect(up.requests).toHaveLength(0);
  });

  it("a token for Deputy's own API is refused at /proxy", async () => {
    const own = await getToken(t, agent, key, { scope: "approvals:review", resource: TEST_ISSUER });
    const res = await call("GET", "/proxy/github/repos/acme/app/issues", { token: own });
    expect(res.status).toBe(401);
    expect(res.json()).toEqual(problem(401, "ERR_INVALID_TOKEN"));
  });

  it("no token, a bearer token, and a replayed DPoP proof are refused", async () => {
    const none = await send({ method: "GET", path: "/proxy/github/repos/acme/app/issues" });
    expect(none.status).toBe(401);
    expect(none.json()).toEqual(problem(401, "ERR_UNAUTHENTICATED"));
    const bearer = await send({
      method: "GET",
      path: "/proxy/github/repos/acme/app/issues",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(bearer.json()).toEqual(problem(401, "ERR_INVALID_TOKEN"));
    const proof = dpopProof(key, {
      htm: "GET",
      htu: `${TEST_ISSUER}/proxy/github/repos/acme/app/issues`,
      iat: nowS(t),
      accessToken: token,
    });
    const headers = { authorization: `DPoP ${token}`, dpop: proof };
    expect((await send({ method: "GET", path: "/proxy/github/repos/acme/app/issues", headers })).status).toBe(
      200,
    );
    const replay = await send({ method: "GET", path: "/proxy/github/repos/acme/app/issues", headers });
    expect(replay.status).toBe(401);
    expect(replay.json()).toEqual(
      problem(401, "ERR_INVALID_DPOP_PROOF", {
        detail:
          "DPoP proof jti was already used (replay); sign a new proof, with a fresh jti, for every request",
      }),
    );
    expect(up.requests).toHaveLength(1);
  });

  it("an unknown connection is 404 problem+json", async () => {
    const res = await call("GET", "/proxy/nope/x");
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({
      type: "connection-not-found",
      title: "No such connection",
      status: 404,
      detail:
        "no connection named nope; check the name after /proxy/ (GET /v1/connections lists them for the admin and principals)",
      code: "ERR_CONNECTION_NOT_FOUND",
    });
  });

  it("an unknown connection is not remembered: a connection created just after a call named it works at once", async () => {
    const miss = await call("GET", "/proxy/later/items");
    expect(miss.status).toBe(404);
    await expectOk(
      t.api("POST", "/v1/connections", {
        name: "later",
        upstream: up.url,
        auth: { type: "bearer", secret: "later-secret-0123" },
        rules: [{ scope: "items:read", methods: ["GET"], paths: ["/**"] }],
      }),
    );
    const k = testKey(33);
    const a = (
      await expectOk(t.api("POST", "/v1/agents", { principal, name: "later", jwks: { keys: [k.publicJwk] } }))
    ).id as string;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: a,
        scopes: ["items:read"],
        resources: ["urn:deputy:connection:later"],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const tok = await getToken(t, a, k, { scope: "items:read", resource: "urn:deputy:connection:later" });
    const res = await call("GET", "/proxy/later/items", { token: tok, key: k });
    expect(res.status).toBe(200);
    expect(up.requests.map((r) => r.url)).toEqual(["/items"]);
    expect((await t.api("DELETE", "/v1/connections/later")).statusCode).toBe(204);
  });

  it("cache-flush: calls naming unknown connections cannot evict a cached connection", async () => {
    await expectOk(
      t.api("POST", "/v1/connections", {
        name: "kept",
        upstream: up.url,
        auth: { type: "bearer", secret: "kept-secret-0123" },
        rules: [{ scope: "items:read", methods: ["GET"], paths: ["/**"] }],
      }),
    );
    const k = testKey(34);
    const a = (
      await expectOk(t.api("POST", "/v1/agents", { principal, name: "kept", jwks: { keys: [k.publicJwk] } }))
    ).id as string;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: a,
        scopes: ["items:read"],
        resources: ["urn:deputy:connection:kept"],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const as = {
      token: await getToken(t, a, k, { scope: "items:read", resource: "urn:deputy:connection:kept" }),
      key: k,
    };
    const saved = t.deputy.broker.connections;
    t.deputy.broker.connections = new ConnectionCache(t.deputy.store, t.deputy.vault, 2);
    try {
      expect((await call("GET", "/proxy/kept/items", as)).status).toBe(200);
      // Seen from here, the row vanishes behind the cache (as another replica's delete would): only
      // the cached entry can still serve the next call, within its 2 s.
      const kept = await t.deputy.store.broker.getConnectionByName("kept");
      expect(await t.deputy.store.broker.deleteConnection(kept!.id)).toBe(true);
      for (let i = 0; i < 4; i++) {
        const res = await call("GET", `/proxy/nope-${i}/items`, as);
        expect(res.status).toBe(404);
        expect(res.json()).toEqual({
          type: "connection-not-found",
          title: "No such connection",
          status: 404,
          detail: `no connection named nope-${i}; check the name after /proxy/ (GET /v1/connections lists them for the admin and principals)`,
          code: "ERR_CONNECTION_NOT_FOUND",
        });
      }
      expect((await call("GET", "/proxy/kept/items", as)).status).toBe(200);
      expect(up.requests).toHaveLength(2);
    } finally {
      t.deputy.broker.connections = saved;
    }
  });

  it("a connection deleted while a call was loading it is not cached from that load", async () => {
    await expectOk(
      t.api("POST", "/v1/connections", {
        name: "racy",
        upstream: up.url,
        auth: { type: "bearer", secret: "racy-secret-0123" },
        rules: [{ scope: "items:read", methods: ["GET"], paths: ["/**"] }],
      }),
    );
    const k = testKey(37);
    const a = (
      await expectOk(t.api("POST", "/v1/agents", { principal, name: "racy", jwks: { keys: [k.publicJwk] } }))
    ).id as string;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: a,
        scopes: ["items:read"],
        resources: ["urn:deputy:connection:racy"],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const as = {
      token: await getToken(t, a, k, { scope: "items:read", resource: "urn:deputy:connection:racy" }),
      key: k,
    };
    // The gateway's read of the connection is held until the delete has gone through.
    const broker = t.deputy.store.broker;
    const read = broker.getConnectionByName.bind(broker);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const spy = vi.spyOn(broker, "getConnectionByName").mockImplementationOnce(async (name) => {
      const row = await read(name);
      await gate;
      return row;
    });
    try {
      const first = call("GET", "/proxy/racy/items", as);
      while (spy.mock.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect((await t.api("DELETE", "/v1/connections/racy")).statusCode).toBe(204);
      release();
      expect((await first).status).toBe(200); // it was let in before the delete
    } finally {
      spy.mockRestore();
    }
    const after = await call("GET", "/proxy/racy/items", as);
    expect(after.status).toBe(404);
    expect(after.json()).toEqual(problem(404, "ERR_CONNECTION_NOT_FOUND"));
    expect(up.requests).toHaveLength(1);
  });

  it("upstream-hangs: 504 ERR_UPSTREAM_TIMEOUT", async () => {
    const res = await call("POST", "/proxy/github/hang", { body: "{}" });
    expect(res.status).toBe(504);
    expect(res.json()).toEqual(
      problem(504, "ERR_UPSTREAM_TIMEOUT", {
        detail:
          "the upstream did not answer within 300 ms; it may have received the call, so check before repeating one that changes something",
      }),
    );
  });

  it("upstream-resets: 502 ERR_UPSTREAM_UNREACHABLE", async () => {
    const res = await call("POST", "/proxy/github/reset", { body: "{}" });
    expect(res.status).toBe(502);
    expect(res.json()).toEqual(
      problem(502, "ERR_UPSTREAM_UNREACHABLE", {
        detail:
          "the upstream could not be reached (ECONNRESET); retry later, and tell the connection's admin if it persists",
      }),
    );
  });

  it("upstream-returns-garbage: 502 ERR_UPSTREAM_BAD_RESPONSE", async () => {
    const res = await call("POST", "/proxy/github/garbage", { body: "{}" });
    expect(res.status).toBe(502);
    expect(res.json()).toEqual(
      problem(502, "ERR_UPSTREAM_BAD_RESPONSE", {
        detail:
          "the upstream's response is not valid HTTP/1.1; retrying will not help, tell the connection's admin",
      }),
    );
  });

  it("upstream cut mid-body: the client sees a cut stream and the audit says so", async () => {
    await expect(call("POST", "/proxy/github/cut", { body: "{}" })).rejects.toThrow();
    const entry = await lastAudit("broker.call_allowed", (e) => e.details.path === "/cut");
    expect(entry.details).toMatchObject({ upstream_status: 200, code: "ERR_UPSTREAM_UNREACHABLE" });
  });

  it("streams a large response through", async () => {
    const res = await call("POST", "/proxy/github/big?mb=8", { body: "{}" });
    expect(res.status).toBe(200);
    expect(Buffer.byteLength(res.body)).toBe(8 * 1048576);
  });
});

describe("approvals", () => {
  const path = "/proxy/github/repos/acme/app/issues/7";
  const body = JSON.stringify({ confirm: true });

  async function held(): Promise<string> {
    const res = await call("DELETE", path, { body });
    expect(res.status).toBe(403);
    const p = res.json();
    expect(p).toEqual(
      problem(403, "ERR_APPROVAL_REQUIRED", {
        type: "approval-required",
        detail: `this call needs an approval; repeat the identical request (method, URL and body) with header Deputy-Approval: ${p.approval_id} once approved at ${TEST_ISSUER}/v1/approvals/${p.approval_id} (GET it with ?wait=30 to wait for the decision), before ${p.expires_at}`,
        approval_id: expect.stringMatching(/^apv_[a-z2-7]{26}$/),
        approval_url: `${TEST_ISSUER}/v1/approvals/${p.approval_id}`,
        expires_at: new Date(t.deputy.clock.now() + t.deputy.config.brokerApprovalTtl * 1000).toISOString(),
      }),
    );
    expect(up.requests).toHaveLength(0);
    return p.approval_id;
  }

  it("holds the call, a principal approves, the identical retry goes through once", async () => {
    const id = await held();
    const entry = await lastAudit("broker.call_held", (e) => e.details.approval_id === id);
    expect(entry).toMatchObject({ decision: "info", details: { approval_id: id } });
    const pending = await t.api("GET", "/v1/approvals?status=pending", undefined, principalToken);
    expect(pending.json().items.map((a: { id: string }) => a.id)).toContain(id);
    const { createHash } = await import("node:crypto");
    const show = await t.api("GET", `/v1/approvals/${id}`, undefined, principalToken);
    expect(show.json()).toMatchObject({
      id,
      status: "pending",
      agent,
      principal,
      chain: [],
      connection: "github",
      request: {
        method: "DELETE",
        url: `${TEST_ISSUER}${path}`,
        body_sha256: createHash("sha256").update(body).digest("hex"),
      },
    });

    // The long-poll answers as soon as the decision lands.
    const poll = t.api("GET", `/v1/approvals/${id}?wait=10`, undefined, principalToken);
    await new Promise((r) => setTimeout(r, 50));
    const approved = await t.api("POST", `/v1/approvals/${id}/approve`, { reason: "ok" }, principalToken);
    expect(approved.statusCode).toBe(200);
    expect((await poll).json()).toMatchObject({ id, status: "approved" });

    // The receipt is a JWS by the issuer key over the request hash.
    const receipt = approved.json().receipt as string;
    const jwks = (await t.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json();
    const verified = await compactVerify(receipt, createLocalJWKSet(jwks));
    expect(verified.protectedHeader.typ).toBe("deputy-approval+jwt");
    const claims = JSON.parse(new TextDecoder().decode(verified.payload));
    expect(claims).toMatchObject({
      iss: TEST_ISSUER,
      sub: id,
      decision: "approved",
      approver: { kind: "principal", principal },
      request_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect((await lastAudit("approval.approved", (e) => e.target === id)).details.receipt).toBe(receipt);

    // approval-with-changed-body: refused, and does not use the approval up.
    const changed = await call("DELETE", path, {
      body: JSON.stringify({ confirm: false }),
      headers: { "deputy-approval": id },
    });
    expect(changed.status).toBe(403);
    expect(changed.json()).toEqual(
      problem(403, "ERR_APPROVAL_MISMATCH", {
        detail: `approval ${id} was given for another request body (SHA-256 ${createHash("sha256").update(body).digest("hex")}); repeat the request with that body, or ${HOLD_AGAIN}`,
      }),
    );
    const otherUrl = await call("DELETE", "/proxy/github/repos/acme/app/issues/8", {
      body,
      headers: { "deputy-approval": id },
    });
    expect(otherUrl.json()).toEqual(
      problem(403, "ERR_APPROVAL_MISMATCH", {
        detail: `approval ${id} was given for DELETE ${TEST_ISSUER}${path}; repeat exactly that request, or ${HOLD_AGAIN}`,
      }),
    );
    expect(up.requests).toHaveLength(0);

    const ok = await call("DELETE", path, { body, headers: { "deputy-approval": id } });
    expect(ok.status).toBe(200);
    expect(up.requests[0]!.body.toString()).toBe(body);
    expect(up.requests[0]!.headers["deputy-approval"]).toBeUndefined();
    const allowed = await lastAudit("broker.call_allowed", (e) => e.details.approval_id === id);
    expect(allowed).toMatchObject({
      decision: "allowed",
      details: { upstream_status: 200, approval_id: id },
    });

    // replayed-approval: single use.
    const replay = await call("DELETE", path, { body, headers: { "deputy-approval": id } });
    expect(replay.status).toBe(403);
    expect(replay.json()).toEqual(
      problem(403, "ERR_APPROVAL_USED", {
        detail: `approval ${id} was already used (it allows one call); ${HOLD_AGAIN}`,
      }),
    );
    expect(up.requests).toHaveLength(1);
  });

  it("a denied approval cannot be used, and a decision cannot be changed", async () => {
    const id = await held();
    expect((await t.api("POST", `/v1/approvals/${id}/deny`, undefined, principalToken)).statusCode).toBe(200);
    const again = await t.api("POST", `/v1/approvals/${id}/approve`, undefined, principalToken);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual(problem(409, "ERR_APPROVAL_NOT_PENDING"));
    const res = await call("DELETE", path, { body, headers: { "deputy-approval": id } });
    expect(res.json()).toEqual({
      type: "approval-not-granted",
      title: "Approval was not granted",
      status: 403,
      detail: `approval ${id} was denied (${TEST_ISSUER}/v1/approvals/${id} has the reason); do not repeat this call unless the principal asks for it`,
      code: "ERR_APPROVAL_NOT_GRANTED",
      approval_id: id,
      approval_status: "denied",
    });
  });

  it("another principal can neither see nor decide an approval", async () => {
    const id = await held();
    const other = (await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Eve" }))).id;
    const otherToken = (await expectOk(t.api("POST", `/v1/principals/${other}/tokens`))).token;
    const show = await t.api("GET", `/v1/approvals/${id}`, undefined, otherToken);
    expect(show.statusCode).toBe(404);
    const list = await t.api("GET", "/v1/approvals?status=pending", undefined, otherToken);
    expect(list.json().items.map((a: { id: string }) => a.id)).not.toContain(id);
    const decide = await t.api("POST", `/v1/approvals/${id}/approve`, undefined, otherToken);
    expect(decide.statusCode).toBe(404);
    const res = await call("DELETE", path, { body, headers: { "deputy-approval": id } });
    expect(res.json()).toEqual(
      problem(403, "ERR_APPROVAL_NOT_GRANTED", {
        detail: `approval ${id} is still pending; wait for the decision (GET ${TEST_ISSUER}/v1/approvals/${id}?wait=30) and repeat the request once it is approved`,
        approval_status: "pending",
      }),
    );
  });

  it("an approval expires", async () => {
    const id = await held();
    await t.api("POST", `/v1/approvals/${id}/approve`, undefined, principalToken);
    t.clock.advance(t.deputy.config.brokerApprovalTtl * 1000 + 1);
    const fresh = await getToken(t, agent, key, { scope: SCOPES, resource: AUD });
    const res = await call("DELETE", path, { body, headers: { "deputy-approval": id }, token: fresh });
    const expiresAt = new Date(T0 + t.deputy.config.brokerApprovalTtl * 1000).toISOString();
    expect(res.json()).toEqual(
      problem(403, "ERR_APPROVAL_EXPIRED", {
        detail: `approval ${id} expired at ${expiresAt}; ${HOLD_AGAIN}`,
      }),
    );
    token = fresh;
  });

  it("an agent can never approve its own call; another reviewer agent can", async () => {
    const id = await held();
    const own = await getToken(t, agent, key, { scope: "approvals:review", resource: TEST_ISSUER });
    const url = `/v1/approvals/${id}/approve`;
    const asAgent = (tok: string, k: TestKey) =>
      t.app.inject({
        method: "POST",
        url,
        headers: {
          authorization: `DPoP ${tok}`,
          dpop: dpopProof(k, { htm: "POST", htu: `${TEST_ISSUER}${url}`, iat: nowS(t), accessToken: tok }),
        },
      });
    const self = await asAgent(own, key);
    expect(self.statusCode).toBe(403);
    expect(self.json()).toEqual(problem(403, "ERR_SELF_APPROVAL"));

    // The requesting agent may read (long-poll) its own hold; without the review scope it cannot list.
    const plain = await getToken(t, agent, key, { scope: "issues:read", resource: TEST_ISSUER });
    {
      const get = (url2: string) =>
        t.app.inject({
          method: "GET",
          url: url2,
          headers: {
            authorization: `DPoP ${plain}`,
            dpop: dpopProof(key, {
              htm: "GET",
              htu: `${TEST_ISSUER}${url2.split("?")[0]}`,
              iat: nowS(t),
              accessToken: plain,
            }),
          },
        });
      expect((await get(`/v1/approvals/${id}?wait=0`)).json()).toMatchObject({ id, status: "pending" });
      const list = await get("/v1/approvals");
      expect(list.statusCode).toBe(403);
      expect(list.json()).toEqual(problem(403, "ERR_INSUFFICIENT_SCOPE"));
    }

    const rk = testKey(2);
    const reviewer = (
      await expectOk(
        t.api("POST", "/v1/agents", { principal, name: "reviewer", jwks: { keys: [rk.publicJwk] } }),
      )
    ).id;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: reviewer,
        scopes: ["approvals:review"],
        resources: [TEST_ISSUER],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const rt = await getToken(t, reviewer, rk, { scope: "approvals:review", resource: TEST_ISSUER });
    const ok = await asAgent(rt, rk);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: "approved", decided_by: { kind: "agent", agent: reviewer } });
  });
});

describe("approval refusals", () => {
  const TRACKER_AUD = "urn:deputy:connection:tracker";
  const body = JSON.stringify({ confirm: true });
  let parent: string;
  let parentKey: TestKey;
  let sub: string;
  let subKey: TestKey;

  /** A DPoP-authenticated request from an agent to Deputy's own API. */
  function asAgent(method: string, url: string, tok: string, k: TestKey) {
    return t.app.inject({
      method: method as "POST",
      url,
      headers: {
        authorization: `DPoP ${tok}`,
        dpop: dpopProof(k, { htm: method, htu: `${TEST_ISSUER}${url}`, iat: nowS(t), accessToken: tok }),
      },
    });
  }

  /** Makes the call, expects it held, answers the approval id. */
  async function hold(method: string, path: string, tok: string, k: TestKey): Promise<string> {
    const res = await call(method, path, { body, token: tok, key: k });
    expect(res.status).toBe(403);
    expect(res.json()).toEqual(problem(403, "ERR_APPROVAL_REQUIRED"));
    return res.json().approval_id;
  }

  beforeAll(async () => {
    expect(
      (
        await t.api("POST", "/v1/connections", {
          name: "tracker",
          upstream: `${up.url}/base`,
          auth: { type: "bearer", secret: "tracker-secret-0123456789" },
          rules: [
            {
              scope: "issues:write",
              methods: ["DELETE", "PUT", "PATCH"],
              paths: ["/repos/*/*/issues/*"],
              approval: "required",
            },
          ],
        })
      ).statusCode,
    ).toBe(201);
    parentKey = testKey(21);
    parent = (
      await expectOk(
        t.api("POST", "/v1/agents", { principal, name: "lead", jwks: { keys: [parentKey.publicJwk] } }),
      )
    ).id;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: parent,
        scopes: ["issues:write", "approvals:review"],
        resources: [AUD, TRACKER_AUD, TEST_ISSUER],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
        max_delegation_depth: 1,
      }),
    );
    subKey = testKey(22);
    sub = (
      await expectOk(
        t.api("POST", "/v1/agents", {
          principal,
          name: "helper",
          parent,
          jwks: { keys: [subKey.publicJwk] },
        }),
      )
    ).id;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: sub,
        scopes: ["issues:write"],
        resources: [AUD],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
  });

  // The later vault-rotation test counts the connections it re-wraps.
  afterAll(async () => {
    expect((await t.api("DELETE", "/v1/connections/tracker")).statusCode).toBe(204);
  });

  it("a parent agent holding approvals:review cannot approve its sub-agent's call", async () => {
    const subToken = await getToken(t, sub, subKey, { scope: "issues:write", resource: AUD });
    const id = await hold("DELETE", "/proxy/github/repos/acme/app/issues/7", subToken, subKey);
    const show = await t.api("GET", `/v1/approvals/${id}`, undefined, principalToken);
    expect(show.json()).toMatchObject({ agent: sub, chain: [parent], status: "pending" });

    const review = await getToken(t, parent, parentKey, { scope: "approvals:review", resource: TEST_ISSUER });
    for (const verb of ["approve", "deny"]) {
      const res = await asAgent("POST", `/v1/approvals/${id}/${verb}`, review, parentKey);
      expect(res.statusCode).toBe(403);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.json()).toEqual({
        type: "self-approval",
        title: "An agent cannot approve its own or its sub-agents' requests",
        status: 403,
        detail: "an agent cannot decide a call of its own or of its sub-agents",
        code: "ERR_SELF_APPROVAL",
      });
    }
    // Nothing was decided: the approval is still pending and the call still held.
    expect((await t.api("GET", `/v1/approvals/${id}`, undefined, principalToken)).json().status).toBe(
      "pending",
    );
    const retry = await call("DELETE", "/proxy/github/repos/acme/app/issues/7", {
      body,
      token: subToken,
      key: subKey,
      headers: { "deputy-approval": id },
    });
    expect(retry.json()).toEqual(problem(403, "ERR_APPROVAL_NOT_GRANTED"));
    expect(up.requests).toHaveLength(0);
  });

  it("a sub-agent with approvals:review cannot approve its parent's call, nor a sibling's (the parent would approve through it)", async () => {
    const checkerKey = testKey(23);
    const checker = (
      await expectOk(
        t.api("POST", "/v1/agents", {
          principal,
          name: "checker",
          parent,
          jwks: { keys: [checkerKey.publicJwk] },
        }),
      )
    ).id;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: checker,
        scopes: ["approvals:review"],
        resources: [TEST_ISSUER],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const review = await getToken(t, checker, checkerKey, {
      scope: "approvals:review",
      resource: TEST_ISSUER,
    });
    const parentToken = await getToken(t, parent, parentKey, { scope: "issues:write", resource: AUD });
    const subToken = await getToken(t, sub, subKey, { scope: "issues:write", resource: AUD });
    const ofParent = await hold("DELETE", "/proxy/github/repos/acme/app/issues/11", parentToken, parentKey);
    const ofSibling = await hold("DELETE", "/proxy/github/repos/acme/app/issues/12", subToken, subKey);
    for (const id of [ofParent, ofSibling]) {
      const res = await asAgent("POST", `/v1/approvals/${id}/approve`, review, checkerKey);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual(problem(403, "ERR_SELF_APPROVAL"));
      expect((await t.api("GET", `/v1/approvals/${id}`, undefined, principalToken)).json().status).toBe(
        "pending",
      );
    }
    expect(up.requests).toHaveLength(0);
  });

  it("approval-header-stuffing: a Deputy-Approval that is not an approval id is refused and never copied into the audit log", async () => {
    const path = "/proxy/github/repos/acme/app/issues/9";
    const junk = `apv_${"x".repeat(40)} forged: approved by the security team`;
    const res = await call("DELETE", path, { body, headers: { "deputy-approval": junk } });
    expect(res.status).toBe(404);
    expect(res.json()).toEqual(
      problem(404, "ERR_APPROVAL_NOT_FOUND", {
        detail: `the Deputy-Approval header is not an approval id (apv_…); ${HOLD_AGAIN}`,
      }),
    );
    const denied = await lastAudit("broker.call_denied", (e) => e.details.code === "ERR_APPROVAL_NOT_FOUND");
    expect(denied.details.approval_id).toBeNull();
    expect(JSON.stringify(denied)).not.toContain("forged");
    expect(up.requests).toHaveLength(0);
  });

  it("another agent presenting someone else's approval id is refused, and the approval stays usable", async () => {
    const path = "/proxy/github/repos/acme/app/issues/9";
    const subToken = await getToken(t, sub, subKey, { scope: "issues:write", resource: AUD });
    const id = await hold("DELETE", path, subToken, subKey);
    expect((await t.api("POST", `/v1/approvals/${id}/approve`, {}, principalToken)).statusCode).toBe(200);

    const expected = {
      type: "approval-not-found",
      title: "No such approval",
      status: 404,
      detail: `no approval ${id} was given to this agent; ${HOLD_AGAIN}`,
      code: "ERR_APPROVAL_NOT_FOUND",
    };
    // Its parent, and an unrelated agent of the same principal, each with a token for the connection.
    const parentToken = await getToken(t, parent, parentKey, { scope: "issues:write", resource: AUD });
    for (const [tok, k] of [
      [parentToken, parentKey],
      [token, key],
    ] as const) {
      const res = await call("DELETE", path, {
        body,
        token: tok,
        key: k,
        headers: { "deputy-approval": id },
      });
      expect(res.status).toBe(404);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.json()).toEqual(expected);
    }
    expect(up.requests).toHaveLength(0);
    const denied = await lastAudit("broker.call_denied", (e) => e.actor.agent === parent);
    expect(denied).toMatchObject({ decision: "denied", details: { code: "ERR_APPROVAL_NOT_FOUND" } });

    const ok = await call("DELETE", path, {
      body,
      token: subToken,
      key: subKey,
      headers: { "deputy-approval": id },
    });
    expect(ok.status).toBe(200);
    expect(up.requests).toHaveLength(1);
  });

  it("an approved call repeated with only the method, or only the query string, changed is refused", async () => {
    const path = "/proxy/tracker/repos/acme/app/issues/7?force=1&reason=dup";
    const tok = await getToken(t, parent, parentKey, { scope: "issues:write", resource: TRACKER_AUD });
    const id = await hold("DELETE", path, tok, parentKey);
    expect((await t.api("POST", `/v1/approvals/${id}/approve`, {}, principalToken)).statusCode).toBe(200);

    const mismatch = {
      type: "approval-mismatch",
      title: "Approval is bound to another request",
      status: 403,
      detail: `approval ${id} was given for DELETE ${TEST_ISSUER}${path}; repeat exactly that request, or ${HOLD_AGAIN}`,
      code: "ERR_APPROVAL_MISMATCH",
    };
    const attempts: Array<[string, string]> = [
      ["PUT", path],
      ["PATCH", path],
      ["DELETE", "/proxy/tracker/repos/acme/app/issues/7?force=2&reason=dup"],
      ["DELETE", "/proxy/tracker/repos/acme/app/issues/7?reason=dup&force=1"],
      ["DELETE", "/proxy/tracker/repos/acme/app/issues/7?force=1&reason=dup&extra"],
      ["DELETE", "/proxy/tracker/repos/acme/app/issues/7?force=%31&reason=dup"],
      ["DELETE", "/proxy/tracker/repos/acme/app/issues/7"],
    ];
    for (const [method, p] of attempts) {
      const res = await call(method, p, {
        body,
        token: tok,
        key: parentKey,
        headers: { "deputy-approval": id },
      });
      expect(res.status, `${method} ${p}`).toBe(403);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.json(), `${method} ${p}`).toEqual(mismatch);
    }
    expect(up.requests).toHaveLength(0);
    // None of them used the approval up: the exact call goes through, once.
    const ok = await call("DELETE", path, {
      body,
      token: tok,
      key: parentKey,
      headers: { "deputy-approval": id },
    });
    expect(ok.status).toBe(200);
    expect(up.requests[0]).toMatchObject({
      method: "DELETE",
      url: "/base/repos/acme/app/issues/7?force=1&reason=dup",
    });
  });
});

describe("budgets, revocation, rotation and secrecy", () => {
  /** A new agent of the principal with one grant (extra fields merged in) and a token for `scope` at AUD. */
  async function grantedAgent(
    seed: number,
    name: string,
    scope: string,
    extra: Record<string, unknown> = {},
  ) {
    const k = testKey(seed);
    const a = (
      await expectOk(t.api("POST", "/v1/agents", { principal, name, jwks: { keys: [k.publicJwk] } }))
    ).id as string;
    const g = (
      await expectOk(
        t.api("POST", "/v1/grants", {
          agent: a,
          scopes: scope.split(" "),
          resources: [AUD],
          expires_at: new Date(T0 + 86_400_000).toISOString(),
          ...extra,
        }),
      )
    ).id as string;
    return { agent: a, key: k, grant: g, token: await getToken(t, a, k, { scope, resource: AUD }) };
  }

  it("a call refused for its grant's call budget does not use up the approval it presents", async () => {
    const path = "/proxy/github/repos/acme/app/issues/5";
    const body = JSON.stringify({ confirm: true });
    const b = await grantedAgent(31, "budget-approval", "issues:read issues:write", {
      constraints: { max_calls: 1 },
    });
    const as = { token: b.token, key: b.key };
    const held = await call("DELETE", path, { ...as, body });
    expect(held.json()).toEqual(problem(403, "ERR_APPROVAL_REQUIRED"));
    const id = held.json().approval_id as string;
    expect((await t.api("POST", `/v1/approvals/${id}/approve`, {}, principalToken)).statusCode).toBe(200);
    // The grant's only call goes elsewhere; the approved call is then refused for the budget.
    expect((await call("GET", "/proxy/github/repos/acme/app/issues", as)).status).toBe(200);
    const refused = await call("DELETE", path, { ...as, body, headers: { "deputy-approval": id } });
    expect(refused.status).toBe(403);
    expect(refused.headers["content-type"]).toBe("application/problem+json");
    expect(refused.json()).toEqual({
      type: "call-budget-exhausted",
      title: "Grant's call budget is used up",
      status: 403,
      detail: `the call budget of grant ${b.grant} (max_calls 1) is spent; ask the principal for a new grant`,
      code: "ERR_CALL_BUDGET_EXHAUSTED",
    });
    expect(up.requests.map((r) => r.method)).toEqual(["GET"]);
    // The refused call used nothing up: the approval is still approved and unused.
    const after = (await t.api("GET", `/v1/approvals/${id}`, undefined, principalToken)).json();
    expect(after).toMatchObject({ status: "approved", used_at: null });
  });

  it("a call whose budget is already spent is refused, not held for an approval nobody could use", async () => {
    const path = "/proxy/github/repos/acme/app/issues/6";
    const b = await grantedAgent(39, "budget-spent-hold", "issues:read issues:write", {
      constraints: { max_calls: 1 },
    });
    const as = { token: b.token, key: b.key };
    expect((await call("GET", "/proxy/github/repos/acme/app/issues", as)).status).toBe(200);
    const before = (await t.api("GET", "/v1/approvals?status=pending", undefined, principalToken)).json();
    const refused = await call("DELETE", path, as);
    expect(refused.status).toBe(403);
    expect(refused.json()).toEqual({
      type: "call-budget-exhausted",
      title: "Grant's call budget is used up",
      status: 403,
      detail: `the call budget of grant ${b.grant} (max_calls 1) is spent; ask the principal for a new grant`,
      code: "ERR_CALL_BUDGET_EXHAUSTED",
    });
    // No approval was recorded for it.
    const after = (await t.api("GET", "/v1/approvals?status=pending", undefined, principalToken)).json();
    expect(after).toEqual(before);
    expect(up.requests.map((r) => r.method)).toEqual(["GET"]);
  });

  it("a call the upstream never received (connection refused) gives back its approval and its call budget", async () => {
    // A loopback port with nothing listening: the connection is refused before any byte is sent.
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, "127.0.0.1", () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    await expectOk(
      t.api("POST", "/v1/connections", {
        name: "down",
        upstream: `http://127.0.0.1:${closed}`,
        auth: { type: "bearer", secret: "down-secret-0123456" },
        rules: [{ scope: "down:write", methods: ["DELETE"], paths: ["/items/*"], approval: "required" }],
      }),
    );
    const k = testKey(40);
    const a = (
      await expectOk(t.api("POST", "/v1/agents", { principal, name: "down", jwks: { keys: [k.publicJwk] } }))
    ).id as string;
    const g = (
      await expectOk(
        t.api("POST", "/v1/grants", {
          agent: a,
          scopes: ["down:write"],
          resources: ["urn:deputy:connection:down"],
          expires_at: new Date(T0 + 86_400_000).toISOString(),
          constraints: { max_calls: 1 },
        }),
      )
    ).id as string;
    const as = {
      token: await getToken(t, a, k, { scope: "down:write", resource: "urn:deputy:connection:down" }),
      key: k,
    };
    const held = await call("DELETE", "/proxy/down/items/1", as);
    expect(held.json()).toEqual(problem(403, "ERR_APPROVAL_REQUIRED"));
    const id = held.json().approval_id as string;
    expect((await t.api("POST", `/v1/approvals/${id}/approve`, {}, principalToken)).statusCode).toBe(200);
    const approved = { ...as, headers: { "deputy-approval": id } };
    // Twice: with max_calls 1 and a single-use approval, the second would be refused had the
    // first used either up.
    for (let n = 0; n < 2; n++) {
      const res = await call("DELETE", "/proxy/down/items/1", approved);
      expect(res.status).toBe(502);
      expect(res.json()).toEqual(
        problem(502, "ERR_UPSTREAM_UNREACHABLE", {
          detail:
            "the upstream could not be reached (ECONNREFUSED); retry later, and tell the connection's admin if it persists",
        }),
      );
    }
    expect((await t.api("GET", `/v1/approvals/${id}`, undefined, principalToken)).json()).toMatchObject({
      status: "approved",
      used_at: null,
    });
    expect(await t.deputy.store.broker.callsMade(g)).toBe(0);
    expect((await t.api("DELETE", "/v1/connections/down")).statusCode).toBe(204);
  });

  it("a reset after the call was sent still uses up the call budget (the upstream may have acted)", async () => {
    const b = await grantedAgent(41, "reset-budget", "issues:write", { constraints: { max_calls: 1 } });
    const as = { token: b.token, key: b.key };
    expect((await call("POST", "/proxy/github/reset", { ...as, body: "{}" })).status).toBe(502);
    expect(await t.deputy.store.broker.callsMade(b.grant)).toBe(1);
  });

  it("constraints.max_calls is enforced per grant", async () => {
    const k = testKey(3);
    const a = (
      await expectOk(
        t.api("POST", "/v1/agents", { principal, name: "budget", jwks: { keys: [k.publicJwk] } }),
      )
    ).id;
    const g = await expectOk(
      t.api("POST", "/v1/grants", {
        agent: a,
        scopes: ["issues:read"],
        resources: [AUD],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
        constraints: { max_calls: 2 },
      }),
    );
    expect(g.constraints).toEqual({ max_calls: 2 });
    const tok = await getToken(t, a, k, { scope: "issues:read", resource: AUD });
    expect((await call("GET", "/proxy/github/repos/acme/app/issues", { token: tok, key: k })).status).toBe(
      200,
    );
    expect((await call("GET", "/proxy/github/repos/acme/app/issues", { token: tok, key: k })).status).toBe(
      200,
    );
    const third = await call("GET", "/proxy/github/repos/acme/app/issues", { token: tok, key: k });
    expect(third.status).toBe(403);
    expect(third.json()).toEqual(problem(403, "ERR_CALL_BUDGET_EXHAUSTED"));
    expect(up.requests).toHaveLength(2);
  });

  it("budget-by-delegation: a sub-agent's calls count against the max_calls of the grant its own was delegated from", async () => {
    const p = await grantedAgent(35, "budget-lead", "issues:read", {
      constraints: { max_calls: 2 },
      max_delegation_depth: 1,
    });
    const sk = testKey(36);
    const sub = (
      await expectOk(
        t.api("POST", "/v1/agents", {
          principal,
          name: "budget-sub",
          parent: p.agent,
          jwks: { keys: [sk.publicJwk] },
        }),
      )
    ).id as string;
    // Attenuated from the parent's grant, and given no constraints of its own.
    const subGrant = await expectOk(
      t.api("POST", "/v1/grants", {
        agent: sub,
        scopes: ["issues:read"],
        resources: [AUD],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    expect(subGrant.parent_grant).toBe(p.grant);
    const subAs = { token: await getToken(t, sub, sk, { scope: "issues:read", resource: AUD }), key: sk };
    const issues = "/proxy/github/repos/acme/app/issues";
    expect((await call("GET", issues, subAs)).status).toBe(200);
    expect((await call("GET", issues, { token: p.token, key: p.key })).status).toBe(200);
    const spent = {
      type: "call-budget-exhausted",
      title: "Grant's call budget is used up",
      status: 403,
      detail: `the call budget of grant ${p.grant} (max_calls 2), from which this token's grant ${subGrant.id} was delegated, is spent; ask the principal for a new grant`,
      code: "ERR_CALL_BUDGET_EXHAUSTED",
    };
    const over = await call("GET", issues, subAs);
    expect(over.status).toBe(403);
    expect(over.json()).toEqual(spent);
    expect((await call("GET", issues, { token: p.token, key: p.key })).json()).toEqual(
      problem(403, "ERR_CALL_BUDGET_EXHAUSTED", {
        detail: `the call budget of grant ${p.grant} (max_calls 2) is spent; ask the principal for a new grant`,
      }),
    );
    expect(up.requests).toHaveLength(2);
  });

  it("a token whose grant cannot be found is refused (fail closed), never given an unlimited budget", async () => {
    const b = await grantedAgent(32, "orphan", "issues:read", { constraints: { max_calls: 1 } });
    // Foreign keys keep a token's grant in place; this stands in for a store that answers "none".
    const get = vi.spyOn(t.deputy.store.grants, "get").mockResolvedValue(null);
    try {
      for (let i = 0; i < 2; i++) {
        const res = await call("GET", "/proxy/github/repos/acme/app/issues", { token: b.token, key: b.key });
        expect(res.status).toBe(401);
        expect(res.headers["www-authenticate"]).toBe('DPoP error="invalid_token", algs="EdDSA ES256"');
        expect(res.json()).toEqual({
          type: "invalid-token",
          title: "Invalid access token",
          status: 401,
          detail: `the access token's grant ${b.grant} no longer exists, so the token is revoked; ask the principal for a new grant`,
          code: "ERR_INVALID_TOKEN",
        });
      }
    } finally {
      get.mockRestore();
    }
    expect(up.requests).toHaveLength(0);
    // Nothing was remembered from the miss: once the grant is found, its max_calls holds.
    const as = { token: b.token, key: b.key };
    expect((await call("GET", "/proxy/github/repos/acme/app/issues", as)).status).toBe(200);
    const over = await call("GET", "/proxy/github/repos/acme/app/issues", as);
    expect(over.json()).toEqual(problem(403, "ERR_CALL_BUDGET_EXHAUSTED"));
    expect(up.requests).toHaveLength(1);
  });

  it("revoked-between-calls: the next call is refused", async () => {
    const k = testKey(4);
    const a = (
      await expectOk(
        t.api("POST", "/v1/agents", { principal, name: "doomed", jwks: { keys: [k.publicJwk] } }),
      )
    ).id;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: a,
        scopes: ["issues:read"],
        resources: [AUD],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const tok = await getToken(t, a, k, { scope: "issues:read", resource: AUD });
    expect((await call("GET", "/proxy/github/repos/acme/app/issues", { token: tok, key: k })).status).toBe(
      200,
    );
    expect((await t.api("POST", `/v1/agents/${a}/revoke`, { reason: "test" })).statusCode).toBe(200);
    const next = await call("GET", "/proxy/github/repos/acme/app/issues", { token: tok, key: k });
    expect(next.status).toBe(401);
    expect(next.json()).toEqual(problem(401, "ERR_INVALID_TOKEN", { detail: REVOKED }));
    expect(up.requests).toHaveLength(1);
  });

  it("rotating the connection secret and the vault key keeps calls working with the right secret", async () => {
    const NEW = "ghp_RotatedSecret_abcdefghijklmnop";
    const rotated = await t.api("POST", "/v1/connections/github/rotate", { secret: NEW });
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().secret.version).toBe(2);
    expect(rotated.body).not.toContain(NEW);
    const before = (await t.deputy.store.broker.getConnectionByName("github"))!.secret.keyId;
    const vr = await t.api("POST", "/v1/vault/rotate");
    expect(vr.statusCode).toBe(200);
    expect(vr.json()).toMatchObject({ rewrapped: 2, retired: [before] });
    const after = await t.deputy.store.broker.getConnectionByName("github");
    expect(after!.secret.keyId).toBe(vr.json().key_id);
    t.deputy.broker.connections.invalidate("github");
    expect((await call("GET", "/proxy/github/repos/acme/app/issues")).status).toBe(200);
    expect(up.requests[0]!.headers.authorization).toBe(`Bearer ${NEW}`);
    // Rotate back so the secrecy scan below also looks for the first secret.
    await t.api("POST", "/v1/connections/github/rotate", { secret: SECRET });
  });

  it("secrets never appear in audit entries, logs, responses or stored rows", async () => {
    const secrets = [SECRET, "ghp_RotatedSecret_abcdefghijklmnop", "slack-secret-xyz"];
    const entries = (await auditEntries()).join("\n");
    const rows = JSON.stringify((await t.deputy.store.broker.listConnections({ limit: 100 })).items);
    const responses = [
      (await t.api("GET", "/v1/connections")).body,
      (await t.api("GET", "/v1/connections/github")).body,
      (await t.api("GET", "/v1/approvals")).body,
    ].join("\n");
    expect(entries.length).toBeGreaterThan(1000);
    expect(logLines.length).toBeGreaterThan(0);
    for (const s of secrets) {
      expect(entries).not.toContain(s);
      expect(rows).not.toContain(s);
      expect(responses).not.toContain(s);
      expect(logLines.join("")).not.toContain(s);
      expect(entries).not.toContain(Buffer.from(s).toString("base64"));
    }
  });

  it("deleting a connection ends calls through it", async () => {
    expect((await t.api("DELETE", "/v1/connections/slack")).statusCode).toBe(204);
    const res = await call("GET", "/proxy/slack/anything");
    expect(res.status).toBe(404);
    expect(res.json()).toEqual(problem(404, "ERR_CONNECTION_NOT_FOUND"));
  });
});

describe("rate limit and query auth", () => {
  it("a rate-limited call writes nothing: its DPoP proof is still unused once the agent may call again", async () => {
    const path = "/proxy/github/repos/acme/app/issues";
    const proof = dpopProof(key, {
      htm: "GET",
      htu: `${TEST_ISSUER}${path}`,
      iat: nowS(t),
      accessToken: token,
    });
    const headers = { authorization: `DPoP ${token}`, dpop: proof };
    const saved = t.deputy.broker.limiter;
    t.deputy.broker.limiter = new RateLimiter(1, 0); // an empty bucket: every call waits 1 s
    try {
      const limited = await send({ method: "GET", path, headers });
      expect(limited.status).toBe(429);
      expect(limited.headers["retry-after"]).toBe("1");
      expect(limited.json()).toEqual({
        type: "rate-limited",
        title: "Too many requests",
        status: 429,
        detail: `rate limit reached for agent ${agent}; retry after 1 s (Retry-After)`,
        code: "ERR_RATE_LIMITED",
        retry_after_ms: 1000,
      });
      // Limited before the store is asked anything: an unknown connection is not even looked up.
      expect((await call("GET", "/proxy/nope/x")).json()).toEqual(problem(429, "ERR_RATE_LIMITED"));
    } finally {
      t.deputy.broker.limiter = saved;
    }
    // The refused call recorded no replay-cache row for its proof's jti.
    const again = await send({ method: "GET", path, headers });
    expect(again.status).toBe(200);
    expect(up.requests).toHaveLength(1);
  });

  it("replayed-proof-drains-limit: replays of a captured DPoP proof do not spend the agent's rate limit", async () => {
    const path = "/proxy/github/repos/acme/app/issues";
    const proofFor = () =>
      dpopProof(key, { htm: "GET", htu: `${TEST_ISSUER}${path}`, iat: nowS(t), accessToken: token });
    const saved = t.deputy.broker.limiter;
    t.deputy.broker.limiter = new RateLimiter(0.001, 2); // two calls, no refill within the test
    try {
      const captured = { authorization: `DPoP ${token}`, dpop: proofFor() };
      expect((await send({ method: "GET", path, headers: captured })).status).toBe(200);
      for (let n = 0; n < 5; n++) {
        const replay = await send({ method: "GET", path, headers: captured });
        expect(replay.status).toBe(401);
        expect(replay.json()).toEqual(
          problem(401, "ERR_INVALID_DPOP_PROOF", {
            detail:
              "DPoP proof jti was already used (replay); sign a new proof, with a fresh jti, for every request",
          }),
        );
      }
      // The agent's second call is still its own to make.
      const own = await send({
        method: "GET",
        path,
        headers: { authorization: `DPoP ${token}`, dpop: proofFor() },
      });
      expect(own.status).toBe(200);
      expect(up.requests).toHaveLength(2);
    } finally {
      t.deputy.broker.limiter = saved;
    }
  });

  it("secret-reflection: an upstream header that echoes the injected credential never reaches the agent", async () => {
    const secret = "q-redirect-secret/+=";
    await expectOk(
      t.api("POST", "/v1/connections", {
        name: "qredirect",
        upstream: up.url,
        auth: { type: "query", name: "key", secret },
        rules: [{ scope: "items:read", methods: ["GET"], paths: ["/**"] }],
      }),
    );
    const k = testKey(38);
    const a = (
      await expectOk(
        t.api("POST", "/v1/agents", { principal, name: "qredirect", jwks: { keys: [k.publicJwk] } }),
      )
    ).id as string;
    const aud = "urn:deputy:connection:qredirect";
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: a,
        scopes: ["items:read"],
        resources: [aud],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const tok = await getToken(t, a, k, { scope: "items:read", resource: aud });
    const res = await call("GET", "/proxy/qredirect/items/redirect?page=2", { token: tok, key: k });
    expect(res.status).toBe(302);
    expect(up.requests[0]!.url).toBe(`/items/redirect?page=2&key=${encodeURIComponent(secret)}`);
    expect(res.headers.location).toBeUndefined();
    expect(JSON.stringify(res.headers)).not.toContain(encodeURIComponent(secret));
    expect((await t.api("DELETE", "/v1/connections/qredirect")).statusCode).toBe(204);
  });

  it("answers 429 with Retry-After once an agent's bucket is empty; query auth replaces an agent-supplied key", async () => {
    await expectOk(
      t.api("POST", "/v1/connections", {
        name: "qconn",
        upstream: up.url,
        auth: { type: "query", name: "api_key", secret: "q-secret-value" },
        rules: [{ scope: "issues:read", methods: ["GET"], paths: ["/**"] }],
        audience: AUD_Q,
      }),
    );
    const k = testKey(5);
    const a = (
      await expectOk(t.api("POST", "/v1/agents", { principal, name: "fast", jwks: { keys: [k.publicJwk] } }))
    ).id;
    await expectOk(
      t.api("POST", "/v1/grants", {
        agent: a,
        scopes: ["issues:read"],
        resources: [AUD_Q],
        expires_at: new Date(T0 + 86_400_000).toISOString(),
      }),
    );
    const tok = await getToken(t, a, k, { scope: "issues:read", resource: AUD_Q });
    const saved = t.deputy.broker.limiter;
    t.deputy.broker.limiter = new RateLimiter(1, 2);
    try {
      expect(
        (await call("GET", "/proxy/qconn/x?api_key=agent-supplied&q=1", { token: tok, key: k })).status,
      ).toBe(200);
      expect(up.requests[0]!.url).toBe("/x?q=1&api_key=q-secret-value");
      expect((await call("GET", "/proxy/qconn/x", { token: tok, key: k })).status).toBe(200);
      const limited = await call("GET", "/proxy/qconn/x", { token: tok, key: k });
      expect(limited.status).toBe(429);
      expect(limited.json()).toEqual(problem(429, "ERR_RATE_LIMITED"));
      expect(limited.headers["retry-after"]).toBe("1");
      expect(up.requests).toHaveLength(2);
    } finally {
      t.deputy.broker.limiter = saved;
    }
  });
});
