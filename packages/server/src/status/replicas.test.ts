/**
 * DESIGN §4 / issue #4 scale-out: two real `deputy serve` processes on one PostgreSQL schema. A
 * revocation made through replica A reaches a verifier subscribed to replica B's event stream
 * (LISTEN/NOTIFY between the processes), B's introspection answers `{"active": false}`, and B's
 * status list has the token's bit set.
 *
 * PostgreSQL only: replicas share a database server, which the embedded SQLite store is not. The
 * SQLite pass skips this file's test by name rather than pretending; CI runs both passes.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAssertion, dpopProof, testKey } from "../test-support/keys.js";
import { freePort, startServeProcess } from "../test-support/serve-process.js";
import { eventData, openEventStream } from "../test-support/sse.js";
import { dropSchema, uniqueSchemaName } from "../test-support/store.js";

const ADMIN = "dpa_replica-test-admin-token-0123456789abcdef";
const MASTER_KEY = Buffer.alloc(32, 9).toString("base64");
const pgUrl = process.env.DEPUTY_TEST_DATABASE_URL;

const dirs: string[] = [];
let schema = "";
const children: ChildProcess[] = [];

beforeAll(() => {
  schema = uniqueSchemaName();
});
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  if (pgUrl) await dropSchema(pgUrl, schema);
});

/** Starts one replica: its own port and data dir; the shared issuer, master key and database. */
async function replica(port: number, issuer: string): Promise<ChildProcess> {
  const dir = await mkdtemp(join(tmpdir(), "deputy-replica-"));
  dirs.push(dir);
  const child = await startServeProcess(["--port", String(port)], {
    DEPUTY_DATA_DIR: dir,
    DEPUTY_ADMIN_TOKEN: ADMIN,
    DEPUTY_MASTER_KEY: MASTER_KEY,
    DEPUTY_ISSUER: issuer,
    DEPUTY_DATABASE_URL: pgUrl,
    DEPUTY_DATABASE_SCHEMA: schema,
  });
  children.push(child);
  return child;
}

describe("revocation across replicas (PostgreSQL)", () => {
  it.skipIf(!pgUrl)(
    "a revocation through replica A reaches B's event stream, introspection and status list",
    async () => {
      const [portA, portB] = [await freePort(), await freePort()];
      const a = `http://127.0.0.1:${portA}`;
      const b = `http://127.0.0.1:${portB}`;
      // Replicas behind one load balancer share the issuer URL; here it is A's address.
      await replica(portA, a);
      await replica(portB, a);
      const api = async (base: string, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${ADMIN}`,
            ...(body ? { "content-type": "application/json" } : {}),
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        const json = (await res.json()) as Record<string, any>;
        if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
        return json;
      };
      const key = testKey(3);
      const p = await api(a, "POST", "/v1/principals", { type: "human", name: "Ada" });
      const resource = await api(a, "POST", "/v1/resources", { audience: "https://api.test", name: "API" });
      const agent = await api(a, "POST", "/v1/agents", {
        principal: p.id,
        name: "runner",
        jwks: { keys: [key.publicJwk] },
      });
      await api(a, "POST", "/v1/grants", {
        agent: agent.id,
        scopes: ["read"],
        resources: ["https://api.test"],
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      });
      const now = Math.floor(Date.now() / 1000);
      const tokenRes = await fetch(`${a}/oauth/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          dpop: dpopProof(key, { htm: "POST", htu: `${a}/oauth/token`, iat: now }),
        },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: clientAssertion(key, agent.id, now, { aud: a }),
          resource: "https://api.test",
        }),
      });
      expect(tokenRes.status).toBe(200);
      const token = ((await tokenRes.json()) as { access_token: string }).access_token;
      const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());

      const basic = `Basic ${Buffer.from(`${resource.id}:${resource.client_secret}`).toString("base64")}`;
      const introspectAtB = async () => {
        const res = await fetch(`${b}/oauth/introspect`, {
          method: "POST",
          headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ token }),
        });
        return (await res.json()) as { active: boolean };
      };
      const bitAtB = async () => {
        const res = await fetch(`${b}/v1/status/lists/0`);
        const payload = JSON.parse(Buffer.from((await res.text()).split(".")[1]!, "base64url").toString());
        const bytes = inflateSync(Buffer.from(payload.status_list.lst, "base64url"));
        const idx = claims.status.status_list.idx as number;
        return ((bytes[idx >> 3] ?? 0) >> (idx & 7)) & 1;
      };
      expect((await introspectAtB()).active).toBe(true);
      expect(await bitAtB()).toBe(0);

      const stream = await openEventStream(`${b}/v1/revocations/events`, { authorization: basic });
      expect(stream.status).toBe(200);
      expect(await stream.next()).toBe("retry: 1000");

      const revokedAt = Date.now();
      await api(a, "POST", `/v1/agents/${agent.id}/revoke`, { reason: "compromised" });
      const frame = await stream.nextMatching((f) => f.startsWith("id: "), 5_000);
      const elapsed = Date.now() - revokedAt;
      expect(eventData(frame)).toEqual({
        id: 1,
        at: expect.any(Number),
        target: agent.id,
        reason: "compromised",
        cascade: {
          principals: [],
          agents: [agent.id],
          grants: [expect.stringMatching(/^grt_/)],
          tokens: [{ id: claims.jti, exp: claims.exp }],
        },
      });
      expect(elapsed).toBeLessThan(1_000);
      expect(await introspectAtB()).toEqual({ active: false });
      expect(await bitAtB()).toBe(1);
      await stream.close();

      // A subscriber that joins B later resumes from the log with Last-Event-ID.
      const resumed = await openEventStream(`${b}/v1/revocations/events`, {
        authorization: basic,
        "last-event-id": "0",
      });
      expect(eventData(await resumed.nextMatching((f) => f.startsWith("id: ")))?.id).toBe(1);
      await resumed.close();
    },
    60_000,
  );
});
