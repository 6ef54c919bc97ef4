/**
 * DESIGN §5: an acknowledged write survives `kill -9`. A real `deputy serve` process acknowledges a
 * principal, an agent and a token; it is then killed with SIGKILL and restarted on the same data,
 * and everything acknowledged is still there (and the revoked token stays revoked).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAssertion, dpopProof, testKey } from "./test-support/keys.js";
import { freePort, startServeProcess } from "./test-support/serve-process.js";
import { dropSchema, uniqueSchemaName } from "./test-support/store.js";

const ADMIN = "dpa_durability-test-admin-token-0123456789abcdef";
const pgUrl = process.env.DEPUTY_TEST_DATABASE_URL;

let dir: string;
let schema: string | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "deputy-kill9-"));
  if (pgUrl) schema = uniqueSchemaName();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  if (pgUrl && schema) await dropSchema(pgUrl, schema);
});

function serve(port: number): Promise<ChildProcess> {
  return startServeProcess(
    ["--port", String(port)],
    {
      DEPUTY_DATA_DIR: dir,
      DEPUTY_ADMIN_TOKEN: ADMIN,
      ...(pgUrl ? { DEPUTY_DATABASE_URL: pgUrl, DEPUTY_DATABASE_SCHEMA: schema } : {}),
    },
    15_000,
  );
}

describe("kill -9", () => {
  it("keeps every acknowledged write", async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };

    let child = await serve(port);
    const key = testKey(1);
    const p = await api("POST", "/v1/principals", { type: "human", name: "Ada" });
    await api("POST", "/v1/resources", { audience: "https://api.test", name: "API" });
    const a = await api("POST", "/v1/agents", {
      principal: p.body.id,
      name: "a",
      jwks: { keys: [key.publicJwk] },
    });
    await api("POST", "/v1/grants", {
      agent: a.body.id,
      scopes: ["read"],
      resources: ["https://api.test"],
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const now = Math.floor(Date.now() / 1000);
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: clientAssertion(key, a.body.id, now, { aud: base }),
      resource: "https://api.test",
    });
    const tokenRes = await fetch(`${base}/oauth/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        dpop: dpopProof(key, { htm: "POST", htu: `${base}/oauth/token`, iat: now }),
      },
      body: form,
    });
    expect(tokenRes.status).toBe(200);
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;
    const jti = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).jti;
    const revoked = await api("POST", "/v1/revocations", { target: jti });
    expect(revoked.status).toBe(200);

    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    child = await serve(port);
    try {
      expect((await api("GET", `/v1/principals/${p.body.id}`)).body.name).toBe("Ada");
      expect((await api("GET", `/v1/agents/${a.body.id}`)).body.status).toBe("active");
      const introspect = await fetch(`${base}/oauth/introspect`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
      });
      expect(await introspect.json()).toEqual({ active: false });
      // The issuer key survived too: the JWKS still holds the kid that signed the token.
      const kid = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid;
      const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as {
        keys: { kid: string }[];
      };
      expect(jwks.keys.map((k) => k.kid)).toContain(kid);
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
