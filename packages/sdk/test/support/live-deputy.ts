/**
 * A real Deputy server for SDK integration tests and examples: the server's test harness
 * (`createTestDeputy`: SQLite, or PostgreSQL with DEPUTY_TEST_DATABASE_URL) with the system
 * clock, listening on a free 127.0.0.1 port that is also its issuer URL, plus helpers that
 * provision principals, resources, agents (with SDK-generated keys) and grants through `/v1`.
 *
 * @example
 * const live = await startLiveDeputy();
 * const { agent } = await live.agent({ principal, scopes: ["read"], resources: [audience] });
 */
import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeputyAgent, generateAgentKey } from "@deputy/sdk/agent";
import { systemClock } from "../../../server/src/clock.js";
import { createTestDeputy, type TestDeputy } from "../../../server/src/test-support/server.js";

export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface LiveDeputy {
  issuer: string;
  t: TestDeputy;
  // biome-ignore lint/suspicious/noExplicitAny: test helper answers parsed JSON of many shapes
  api<T = Record<string, any>>(method: string, path: string, body?: unknown): Promise<T>;
  principal(name?: string): Promise<string>;
  resource(audience: string): Promise<{ id: string; audience: string; secret: string }>;
  /** A new agent with its own key; optionally a grant. `keyFile` is written like `deputy agent create` does. */
  agent(o: {
    principal: string;
    parent?: string;
    scopes?: string[];
    resources?: string[];
    depth?: number;
    name?: string;
  }): Promise<{ id: string; agent: DeputyAgent; keyFile: string; privateJwk: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startLiveDeputy(overrides: Record<string, unknown> = {}): Promise<LiveDeputy> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const t = await createTestDeputy({ issuer, clock: systemClock, ...overrides });
  await t.app.listen({ port, host: "127.0.0.1" });
  const dir = await mkdtemp(join(tmpdir(), "deputy-sdk-keys-"));
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await t.api(method, path, body);
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  const live: LiveDeputy = {
    issuer,
    t,
    api,
    principal: async (name = "Ada") => (await api("POST", "/v1/principals", { type: "human", name })).id,
    resource: async (audience) => {
      const r = await api("POST", "/v1/resources", { audience, name: audience });
      return { id: r.id, audience: r.audience, secret: r.client_secret };
    },
    async agent(o) {
      const key = await generateAgentKey();
      const a = await api("POST", "/v1/agents", {
        principal: o.principal,
        name: o.name ?? "agent",
        jwks: { keys: [key.publicJwk] },
        ...(o.parent !== undefined ? { parent: o.parent } : {}),
      });
      if (o.scopes && o.resources) {
        await api("POST", "/v1/grants", {
          agent: a.id,
          scopes: o.scopes,
          resources: o.resources,
          expires_at: new Date(Date.now() + 86_400_000).toISOString(),
          max_delegation_depth: o.depth ?? 1,
        });
      }
      const keyFile = join(dir, `${a.id}.key.json`);
      await writeFile(
        keyFile,
        JSON.stringify({ agent_id: a.id, issuer, kid: key.kid, private_jwk: key.privateJwk }, null, 2),
        { mode: 0o600 },
      );
      return {
        id: a.id,
        agent: new DeputyAgent({ issuer, agentId: a.id, privateJwk: key.privateJwk }),
        keyFile,
        privateJwk: key.privateJwk as Record<string, unknown>,
      };
    },
    close: () => t.close(),
  };
  return live;
}
