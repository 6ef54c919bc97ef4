/**
 * The built `deputy` CLI end to end: a real server in-process (SQLite, or PostgreSQL in a fresh
 * schema when DEPUTY_TEST_DATABASE_URL is set), the CLI as a child process. Run `npx tsc -b`
 * first: the test executes `packages/server/bin/deputy.js` → `dist/cli/main.js`.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeputyAgent, generateAgentKey } from "@deputy/sdk";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type RunningDeputy, startDeputy } from "../serve.js";
import { type CliRun, runCli } from "../test-support/cli.js";
import { dropSchema, uniqueSchemaName } from "../test-support/store.js";

const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const PG_URL = process.env.DEPUTY_TEST_DATABASE_URL;
const AUDIENCE = "https://api.example.com";

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
const id = (prefix: string) => expect.stringMatching(new RegExp(`^${prefix}_[a-z2-7]{26}$`));

let server: RunningDeputy;
let dataDir: string;
let work: string;
let schema: string | undefined;

type Run = CliRun;

function deputy(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { cwd: work, url: server.url, adminToken: server.adminToken, env });
}

async function json<T = Record<string, any>>(args: string[]): Promise<T> {
  const r = await deputy([...args, "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Everything the server stored, as text (to show a secret never reached it). */
async function everythingStored(): Promise<string> {
  if (!PG_URL) {
    const files = await readdir(dataDir);
    const texts = await Promise.all(
      files.map((f) => readFile(join(dataDir, f)).then((b) => b.toString("latin1"))),
    );
    return texts.join("\n");
  }
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
      [schema],
    );
    const out: string[] = [];
    for (const { table_name } of tables.rows) {
      const rows = await client.query(`SELECT t::text AS row FROM "${schema}"."${table_name}" t`);
      out.push(...rows.rows.map((r: { row: string }) => r.row));
    }
    return out.join("\n");
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error("build first: npx tsc -b (the CLI runs from dist/)");
  dataDir = await mkdtemp(join(tmpdir(), "deputy-cli-data-"));
  work = await mkdtemp(join(tmpdir(), "deputy-cli-work-"));
  schema = PG_URL ? uniqueSchemaName() : undefined;
  server = await startDeputy({
    port: 0,
    dataDir,
    env: {},
    logger: createLogger("silent"),
    ...(PG_URL && schema ? { databaseUrl: PG_URL, databaseSchema: schema } : {}),
  });
});

afterAll(async () => {
  await server?.close();
  if (PG_URL && schema) await dropSchema(PG_URL, schema);
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe("deputy CLI against a live server", () => {
  const s = {} as { principal: string; agent: string; kid: string; grant: string; keyFile: string };

  it("principal create/show/list --json print the server's exact objects", async () => {
    const created = await json([
      "principal",
      "create",
      "--type",
      "human",
      "--name",
      "Alice",
      "--email",
      "a@example.com",
    ]);
    expect(created).toEqual({
      id: id("prn"),
      type: "human",
      name: "Alice",
      email: "a@example.com",
      status: "active",
      created_at: ISO,
      disabled_at: null,
    });
    s.principal = created.id;
    expect(await json(["principal", "show", s.principal])).toEqual(created);
    expect(await json(["principal", "list"])).toEqual({ items: [created], next_cursor: null });
  });

  it("resource create --json prints the secret once, with the resource", async () => {
    const r = await json(["resource", "create", "--audience", AUDIENCE, "--name", "Example API"]);
    expect(r).toEqual({
      id: id("res"),
      audience: AUDIENCE,
      name: "Example API",
      allow_bearer: false,
      builtin: false,
      require_provenance: false,
      code_digests: null,
      accept_unbound_provenance: false,
      created_at: ISO,
      client_secret: expect.any(String),
    });
  });

  it("agent create writes a 0600 key file whose private key the server never saw", async () => {
    const created = await json(["agent", "create", "--principal", s.principal, "--name", "triage"]);
    const agent = {
      id: id("agt"),
      principal: s.principal,
      parent: null,
      chain: [],
      name: "triage",
      description: null,
      status: "active",
      provenance: { status: "none", verified: null, self_asserted: null },
      enrollment: null,
      ceiling: null,
      temporary_until: null,
      claimed_at: null,
      created_at: ISO,
      revoked_at: null,
      revoke_reason: null,
    };
    expect(created).toEqual({
      ...agent,
      kid: expect.any(String),
      key_file: join(work, `${created.id}.key.json`),
    });
    s.agent = created.id;
    s.kid = created.kid;
    s.keyFile = created.key_file;

    expect((await stat(s.keyFile)).mode & 0o777).toBe(0o600);
    const file = JSON.parse(await readFile(s.keyFile, "utf8"));
    expect(file).toEqual({
      agent_id: s.agent,
      issuer: server.url,
      kid: s.kid,
      private_jwk: {
        kty: "OKP",
        crv: "Ed25519",
        x: expect.any(String),
        d: expect.any(String),
        alg: "EdDSA",
        kid: s.kid,
        use: "sig",
      },
    });

    const { created_at, ...shownAgent } = await json(["agent", "show", s.agent]);
    expect(created_at).toBe(created.created_at);
    expect(shownAgent).toEqual({
      ...agent,
      created_at: undefined,
      jwks: {
        keys: [
          { kty: "OKP", crv: "Ed25519", x: file.private_jwk.x, kid: s.kid, alg: "EdDSA", created_at: ISO },
        ],
      },
    });
    const stored = await everythingStored();
    expect(stored).toContain(file.private_jwk.x); // the public key is there…
    expect(stored).not.toContain(file.private_jwk.d); // …the private key is not
    expect(await json(["agent", "list", "--principal", s.principal])).toEqual({
      items: [{ ...agent, id: s.agent, created_at: created.created_at }],
      next_cursor: null,
    });
  });

  it("agent create refuses to overwrite a key file, and registers nothing", async () => {
    const existing = join(work, "taken.key.json");
    await writeFile(existing, "keep me");
    const r = await deputy([
      "agent",
      "create",
      "--principal",
      s.principal,
      "--name",
      "x",
      "--key-file",
      existing,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERR_KEY_FILE_EXISTS");
    expect(await readFile(existing, "utf8")).toBe("keep me");
    expect((await json(["agent", "list"])).items).toHaveLength(1);
    expect((await readdir(work)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("grant create/list --json", async () => {
    const g = await json([
      "grant",
      "create",
      "--agent",
      s.agent,
      "--scope",
      "tickets:read",
      "--scope",
      "tickets:write",
      "--resource",
      AUDIENCE,
      "--expires-in",
      "2h",
      "--max-delegation-depth",
      "1",
      "--max-tokens",
      "100",
    ]);
    expect(g).toEqual({
      id: id("grt"),
      agent: s.agent,
      principal: s.principal,
      parent_grant: null,
      scopes: ["tickets:read", "tickets:write"],
      resources: [AUDIENCE],
      expires_at: ISO,
      max_delegation_depth: 1,
      constraints: { max_tokens: 100 },
      tokens_issued: 0,
      status: "active",
      created_at: ISO,
      revoked_at: null,
    });
    const hours = (Date.parse(g.expires_at) - Date.parse(g.created_at)) / 3_600_000;
    expect(hours).toBeCloseTo(2, 1);
    s.grant = g.id;
    expect(await json(["grant", "list", "--agent", s.agent])).toEqual({ items: [g], next_cursor: null });
  });

  it("token --json mints a DPoP-bound token for the key file and decodes its claims", async () => {
    const t = await json(["token", "--key-file", s.keyFile, "--scope", "tickets:read"]);
    expect(t).toEqual({
      access_token: expect.any(String),
      token_type: "DPoP",
      expires_in: 300,
      scope: "tickets:read",
      claims: {
        iss: server.url,
        sub: s.principal,
        aud: AUDIENCE,
        client_id: s.agent,
        act: { sub: s.agent },
        scope: "tickets:read",
        iat: expect.any(Number),
        exp: expect.any(Number),
        jti: expect.stringMatching(/^tok_[a-z]{10}[a-z2-7]{26}$/),
        grant_id: s.grant,
        status: { status_list: { idx: expect.any(Number), uri: expect.any(String) } },
        cnf: { jkt: s.kid },
        agent_prov: { verified: false },
      },
    });
    const human = await deputy(["token", "--key-file", s.keyFile]);
    expect(human.code).toBe(0);
    expect(human.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(human.stderr).toContain(
      `agent ${s.agent}, acting for principal ${s.principal}, may do tickets:read tickets:write on ${AUDIENCE}`,
    );
  });

  it("errors exit 1 with the server's code and a hint; usage errors exit 2", async () => {
    const missing = await deputy(["agent", "show", "agt_aaaaaaaaaaaaaaaaaaaaaaaaaa"]);
    expect(missing).toMatchObject({ code: 1, stdout: "" });
    expect(missing.stderr).toMatch(/^error: ERR_NOT_FOUND \(HTTP 404\): .*\nhint: /);
    const badToken = await deputy(["principal", "list", "--token", "dpa_wrong"]);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain("ERR_UNAUTHENTICATED");
    const usage = await deputy(["grant", "create", "--scope", "x", "--resource", AUDIENCE]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--agent");
  });

  it("agent revoke cascades, and the token endpoint then refuses the key file", async () => {
    const r = await json(["agent", "revoke", s.agent, "--reason", "test"]);
    expect(r).toEqual({
      target: s.agent,
      revoked: { principals: 0, agents: 1, grants: 1, tokens: 2 },
      agents: [s.agent],
      grants: [s.grant],
    });
    const refused = await deputy(["token", "--key-file", s.keyFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("invalid_client");
  });

  it("the SDK agent calls /v1 itself: it registers its own sub-agent with an agents:delegate token", async () => {
    const key = await generateAgentKey("ES256");
    const parent = await json([
      "agent",
      "create",
      "--principal",
      s.principal,
      "--name",
      "planner",
      "--alg",
      "ES256",
    ]);
    await json([
      "grant",
      "create",
      "--agent",
      parent.id,
      "--scope",
      "agents:delegate",
      "--resource",
      server.url,
    ]);
    const file = JSON.parse(await readFile(parent.key_file, "utf8"));
    const agent = new DeputyAgent({ issuer: server.url, agentId: parent.id, privateJwk: file.private_jwk });
    const sub = await agent.callApi<{ id: string; parent: string }>("POST", "/v1/agents", {
      principal: s.principal,
      name: "helper",
      parent: parent.id,
      jwks: { keys: [key.publicJwk] },
    });
    expect(sub.parent).toBe(parent.id);
    const mine = await agent.callApi<{ items: unknown[] }>("GET", `/v1/agents?parent=${parent.id}`);
    expect(mine.items).toHaveLength(1);
  });
});

describe("deputy demo", () => {
  it("tells the whole story against its own server and exits 0", async () => {
    const r = await deputy(["demo"]);
    // Node's own warnings (a dependency's deprecation notice) are not the demo's output.
    expect(r.stderr.replace(/^\(node:\d+\).*\n|^\(Use `node --trace-warnings.*\n/gm, "")).toBe("");
    expect(r.code).toBe(0);
    for (const step of [
      "Start a fresh Deputy",
      "Register Alice",
      "Register the ticket API",
      'Create the agent "ticket-triage"',
      "grants it tickets:read and tickets:write",
      "asks for a token",
      "verifies the token offline",
      "introspection",
      'Create a sub-agent "summarizer"',
      "delegates a narrower token",
      "Revoke ticket-triage",
      '{"active":false}',
      "refuses both agents",
      "Every step behaved as expected",
    ]) {
      expect(r.stdout).toContain(step);
    }
    expect(r.stdout).toMatch(
      /acting for principal prn_\w+, may do tickets:read tickets:write on https:\/\/tickets\.example\.com until /,
    );
  });
});
