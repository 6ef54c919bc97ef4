/**
 * An in-process Deputy for wire tests: a fresh store (SQLite, or PostgreSQL when
 * `DEPUTY_TEST_DATABASE_URL` is set), a fake clock, a fixed master key and admin token, and
 * `app.inject` for requests. Helpers set up the common principal → resource → agent → grant story.
 *
 * @example
 * const t = await createTestDeputy();
 * const res = await t.api("POST", "/v1/principals", { type: "human", name: "Ada" });
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import pino from "pino";
import { FakeClock } from "../clock.js";
import type { Deputy } from "../context.js";
import { createDeputy } from "../serve.js";
import { type TestKey, testKey } from "./keys.js";
import { createTestStore } from "./store.js";

export const TEST_ISSUER = "http://deputy.test";
export const TEST_ADMIN_TOKEN = "dpa_test-admin-token-0123456789abcdefghijklmnop";
export const TEST_RESOURCE = "https://api.example.test";
/** 2026-01-01T00:00:00Z */
export const T0 = Date.UTC(2026, 0, 1);

export interface TestDeputy {
  app: FastifyInstance;
  deputy: Deputy;
  clock: FakeClock;
  api(method: string, path: string, body?: unknown, token?: string): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** `TestDeputy.api` for `app`: a JSON request with a bearer token (the admin's unless given). */
export function injectApi(app: FastifyInstance): TestDeputy["api"] {
  return (method, path, body, token = TEST_ADMIN_TOKEN) =>
    app.inject({
      method: method as "GET",
      url: path,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
}

export async function createTestDeputy(overrides: Record<string, unknown> = {}): Promise<TestDeputy> {
  const dataDir = await mkdtemp(join(tmpdir(), "deputy-test-"));
  const { store, cleanup } = await createTestStore();
  const clock = new FakeClock(T0);
  const { app, deputy } = await createDeputy({
    dataDir,
    issuer: TEST_ISSUER,
    adminToken: TEST_ADMIN_TOKEN,
    masterKey: Buffer.alloc(32, 7).toString("base64"),
    store,
    clock,
    logger: pino({ level: "silent" }),
    env: {},
    ...overrides,
  });
  await app.ready();
  return {
    app,
    deputy,
    clock,
    api: injectApi(app),
    async close() {
      await app.close();
      await cleanup();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Story {
  principal: string;
  resource: { id: string; audience: string; secret: string };
  agent: string;
  agentKey: TestKey;
  grant: string;
}

/** principal → resource → agent (with a seeded key) → grant (scopes read/write, depth 1). */
export async function setupStory(
  t: TestDeputy,
  opts: {
    scopes?: string[];
    depth?: number;
    seed?: number;
    allowBearer?: boolean;
    constraints?: Record<string, unknown>;
  } = {},
): Promise<Story> {
  const p = await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Ada" }));
  const r = await t.api("POST", "/v1/resources", {
    audience: TEST_RESOURCE,
    name: "API",
    ...(opts.allowBearer ? { allow_bearer: true } : {}),
  });
  let resource: Story["resource"];
  if (r.statusCode === 201) {
    const body = r.json();
    resource = { id: body.id, audience: body.audience, secret: body.client_secret };
  } else {
    throw new Error(`resource: ${r.statusCode} ${r.body}`);
  }
  const agentKey = testKey(opts.seed ?? 1);
  const a = await expectOk(
    t.api("POST", "/v1/agents", { principal: p.id, name: "deployer", jwks: { keys: [agentKey.publicJwk] } }),
  );
  const g = await expectOk(
    t.api("POST", "/v1/grants", {
      agent: a.id,
      scopes: opts.scopes ?? ["read", "write"],
      resources: [TEST_RESOURCE],
      expires_at: new Date(T0 + 86_400_000).toISOString(),
      max_delegation_depth: opts.depth ?? 1,
      ...(opts.constraints ? { constraints: opts.constraints } : {}),
    }),
  );
  return { principal: p.id, resource, agent: a.id, agentKey, grant: g.id };
}

export async function expectOk(res: Promise<LightMyRequestResponse>): Promise<Record<string, any>> {
  const r = await res;
  if (r.statusCode >= 300) throw new Error(`expected success, got ${r.statusCode}: ${r.body}`);
  return r.json();
}
