/**
 * `deputy connection …` and `deputy approval …` run as child processes against a live server,
 * the way an operator would use them (on SQLite, or PostgreSQL with DEPUTY_TEST_DATABASE_URL).
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type RunningDeputy, startDeputy } from "../serve.js";
import { runCli, runCliJson } from "../test-support/cli.js";
import { dropSchema, uniqueSchemaName } from "../test-support/store.js";

const PG_URL = process.env.DEPUTY_TEST_DATABASE_URL;
const SECRET = "ghp_cli_test_secret_value_0123456789";
let server: RunningDeputy;
let dataDir: string;
let work: string;
let schema: string | undefined;

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { cwd: work, url: server.url, adminToken: server.adminToken, env });
const json = (args: string[], env: Record<string, string> = {}) =>
  runCliJson(args, { cwd: work, url: server.url, adminToken: server.adminToken, env });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "deputy-broker-cli-"));
  work = await mkdtemp(join(tmpdir(), "deputy-broker-cli-work-"));
  schema = PG_URL ? uniqueSchemaName() : undefined;
  server = await startDeputy({
    port: 0,
    dataDir,
    env: {},
    logger: createLogger("silent"),
    brokerAllowHttpLoopback: true,
    ...(PG_URL && schema ? { databaseUrl: PG_URL, databaseSchema: schema } : {}),
  });
});

afterAll(async () => {
  await server?.close();
  if (PG_URL && schema) await dropSchema(PG_URL, schema);
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe("deputy connection and deputy approval", () => {
  it("connection add reads the secret from the environment and never prints it", async () => {
    const r = await cli(
      [
        "connection",
        "add",
        "github",
        "--upstream",
        "http://127.0.0.1:9/base",
        "--secret-env",
        "GH_TOKEN",
        "--rule",
        "issues:read:GET:/repos/*/*/issues,/repos/*/*/issues/*",
        "--rule",
        "issues:write:DELETE:/repos/*/*/issues/*:approval",
        "--json",
      ],
      { GH_TOKEN: SECRET },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(SECRET);
    const c = JSON.parse(r.stdout);
    expect(c).toMatchObject({
      name: "github",
      audience: "urn:deputy:connection:github",
      auth: { type: "bearer" },
      rules: [
        { scope: "issues:read", methods: ["GET"], paths: ["/repos/*/*/issues", "/repos/*/*/issues/*"] },
        { scope: "issues:write", methods: ["DELETE"], paths: ["/repos/*/*/issues/*"], approval: "required" },
      ],
      secret: { version: 1 },
    });
  });

  it("refuses a secret on the command line and explains how to pass one", async () => {
    const r = await cli(["connection", "add", "x", "--upstream", "https://a.example", "--rule", "a:GET:/x"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--secret-env <VAR> or --secret-stdin");
  });

  it("list, show, rotate and rm", async () => {
    const page = await json(["connection", "list"]);
    expect(page.items.map((c: { name: string }) => c.name)).toEqual(["github"]);
    expect((await json(["connection", "show", "github"])).name).toBe("github");
    const rotated = await json(["connection", "rotate", "github", "--secret-env", "NEW"], {
      NEW: "ghp_new_value",
    });
    expect(rotated.secret.version).toBe(2);
    const table = await cli(["connection", "list"]);
    expect(table.stdout).toMatch(/^NAME\s+ID\s+UPSTREAM/m);
    expect(table.stdout).not.toContain(SECRET);
  });

  it("approval list, watch and approve", async () => {
    const con = (await server.deputy.store.broker.getConnectionByName("github"))!;
    const now = server.deputy.clock.now();
    const principal = (await json(["principal", "create", "--type", "human", "--name", "Ada"])).id;
    const id = "apv_abcdefghijklmnopqrstuvwxyz";
    await server.deputy.store.broker.createApproval({
      id,
      connectionId: con.id,
      connectionName: con.name,
      agentId: "agt_abcdefghijklmnopqrstuvwxyz",
      chain: [],
      principalId: principal,
      tokenId: "tok_x",
      grantId: "grt_x",
      method: "DELETE",
      url: `${server.url}/proxy/github/repos/a/b/issues/1`,
      bodySha256: createHash("sha256").update("").digest("hex"),
      status: "pending",
      createdAt: now,
      expiresAt: now + 60_000,
      decidedAt: null,
      decidedBy: null,
      reason: null,
      receipt: null,
      usedAt: null,
    });
    const pending = await json(["approval", "list"]);
    expect(pending.items.map((a: { id: string }) => a.id)).toEqual([id]);
    const watched = await cli(["approval", "watch", "--timeout", "0", "--json"]);
    expect(watched.code).toBe(0);
    expect(JSON.parse(watched.stdout.trim())).toMatchObject({ id, status: "pending" });
    const approved = await json(["approval", "approve", id, "--reason", "checked"]);
    expect(approved).toMatchObject({
      id,
      status: "approved",
      reason: "checked",
      receipt: expect.any(String),
    });
    const again = await cli(["approval", "deny", id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("ERR_APPROVAL_NOT_PENDING");
    expect((await json(["approval", "list"])).items).toEqual([]);
  });

  it("--help teaches with examples", async () => {
    const help = await cli(["connection", "add", "--help"]);
    expect(help.stdout).toContain("Example");
    expect(help.stdout).toContain("--secret-env");
    expect((await cli(["approval", "--help"])).stdout).toContain("watch");
  });

  it("connection rm", async () => {
    expect((await cli(["connection", "rm", "github"])).code).toBe(0);
    const gone = await cli(["connection", "show", "github"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("ERR_NOT_FOUND");
  });
});
