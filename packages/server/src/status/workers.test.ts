/**
 * `deputy serve --workers 2` (node:cluster, one database): a revocation handled by one worker
 * reaches event-stream subscribers on the other. On SQLite the workers share one file and learn of
 * each other's revocations by polling the event log's head; on PostgreSQL (when
 * `DEPUTY_TEST_DATABASE_URL` is set) by LISTEN/NOTIFY. Real processes either way.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { testKey } from "../test-support/keys.js";
import { freePort, startServeProcess } from "../test-support/serve-process.js";
import { eventData, openEventStream } from "../test-support/sse.js";
import { dropSchema, uniqueSchemaName } from "../test-support/store.js";

const ADMIN = "dpa_workers-test-admin-token-0123456789abcdef";
const pgUrl = process.env.DEPUTY_TEST_DATABASE_URL;
const schema = uniqueSchemaName();
let dir = "";
let child: ChildProcess | undefined;

afterAll(async () => {
  // SIGTERM lets the primary stop its workers; SIGKILL only if it does not exit in time.
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child?.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child?.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (dir) await rm(dir, { recursive: true, force: true });
  if (pgUrl) await dropSchema(pgUrl, schema);
});

describe("revocation across cluster workers", () => {
  it("reaches subscribers on every worker within a second", async () => {
    dir = await mkdtemp(join(tmpdir(), "deputy-workers-"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = await startServeProcess(
      ["--port", String(port), "--workers", "2"],
      {
        DEPUTY_DATA_DIR: dir,
        DEPUTY_ADMIN_TOKEN: ADMIN,
        ...(pgUrl ? { DEPUTY_DATABASE_URL: pgUrl, DEPUTY_DATABASE_SCHEMA: schema } : {}),
      },
      30_000,
    );
    const api = async (method: string, path: string, body?: unknown) => {
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
    const p = await api("POST", "/v1/principals", { type: "human", name: "Ada" });
    const agent = await api("POST", "/v1/agents", {
      principal: p.id,
      name: "runner",
      jwks: { keys: [testKey(4).publicJwk] },
    });
    // Connections are handed to the workers round-robin, so six streams land on both of them.
    const streams = [];
    for (let i = 0; i < 6; i++) {
      const s = await openEventStream(`${base}/v1/revocations/events`, { authorization: `Bearer ${ADMIN}` });
      expect(s.status).toBe(200);
      expect(await s.next()).toBe("retry: 1000");
      streams.push(s);
    }
    const started = Date.now();
    await api("POST", `/v1/agents/${agent.id}/revoke`, { reason: "compromised" });
    for (const s of streams) {
      const frame = await s.nextMatching((f) => f.startsWith("id: "), 3_000);
      expect(eventData(frame)).toMatchObject({ id: 1, target: agent.id, reason: "compromised" });
    }
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const s of streams) await s.close();
  }, 60_000);
});
