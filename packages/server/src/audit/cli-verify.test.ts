/**
 * `deputy audit …` end to end: a real server in-process (SQLite, or PostgreSQL in a fresh schema
 * when DEPUTY_TEST_DATABASE_URL is set), the built CLI as a child process. The tamper tests edit
 * the database directly, as an attacker with database access would, and `deputy audit verify`
 * must exit non-zero naming the first bad index; a forked or rolled-back checkpoint is refused.
 * Run `npx tsc -b` first: the CLI runs from dist/.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type RunningDeputy, startDeputy } from "../serve.js";
import { type CliRun, runCli } from "../test-support/cli.js";
import { dropSchema, uniqueSchemaName } from "../test-support/store.js";

const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const PG_URL = process.env.DEPUTY_TEST_DATABASE_URL;
const AUDIENCE = "https://api.example.com";

let server: RunningDeputy;
let dataDir: string;
let work: string;
let schema: string | undefined;

type Run = CliRun;

function deputy(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { cwd: work, url: server.url, adminToken: server.adminToken, env });
}

async function ok(args: string[]): Promise<string> {
  const r = await deputy(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** Runs SQL directly against the server's database (the attacker's view). */
async function sqlExec(statement: string, params: unknown[] = []): Promise<void> {
  if (!PG_URL) {
    const db = new BetterSqlite3(join(dataDir, "deputy.db"));
    try {
      db.prepare(statement.replace(/\$\d+/g, "?")).run(...params);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    await client.query(statement, params);
  } finally {
    await client.end();
  }
}

async function logSize(): Promise<number> {
  return server.deputy.store.audit.size();
}

/** Waits (real time) until the published checkpoint covers the whole log; returns how long it took. */
async function published(): Promise<number> {
  const started = Date.now();
  const size = await logSize();
  for (;;) {
    const note = await (await fetch(`${server.url}/v1/audit/checkpoint`)).text();
    if (Number(note.split("\n")[1]) >= size) return Date.now() - started;
    if (Date.now() - started > 5000) throw new Error("no checkpoint within 5 s");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const witnessPath = () => join(work, ".deputy", "audit-witness.json");

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error("build first: npx tsc -b (the CLI runs from dist/)");
  dataDir = await mkdtemp(join(tmpdir(), "deputy-audit-data-"));
  work = await mkdtemp(join(tmpdir(), "deputy-audit-work-"));
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

describe("deputy audit against a live server", () => {
  const s = {} as {
    principal: string;
    agent: string;
    token: string;
    tokenId: string;
    principalToken: string;
  };

  it("records activity and publishes a checkpoint for it within a second", async () => {
    s.principal = (await ok(["principal", "create", "--type", "human", "--name", "Ada", "-q"])).trim();
    await ok(["resource", "create", "--audience", AUDIENCE, "--name", "API", "--json"]);
    const agent = JSON.parse(
      await ok(["agent", "create", "--principal", s.principal, "--name", "triage", "--json"]),
    );
    s.agent = agent.id;
    await ok(["grant", "create", "--agent", s.agent, "--scope", "read", "--resource", AUDIENCE, "-q"]);
    for (let i = 0; i < 3; i++) {
      s.token = (await ok(["token", "--key-file", agent.key_file, "--json"])).trim();
    }
    s.token = JSON.parse(s.token).access_token;
    s.tokenId = JSON.parse(Buffer.from(s.token.split(".")[1]!, "base64url").toString()).jti;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${server.url}/v1/principals`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "service", name: `svc-${i}` }),
      });
      expect(res.status).toBe(201);
    }
    s.principalToken = JSON.parse(await ok(["principal", "token", s.principal, "--json"])).token;
    expect(await published()).toBeLessThan(1000);
  });

  it("query, tail, who and export answer from the log", async () => {
    const byAgent = JSON.parse(await ok(["audit", "query", "--agent", s.agent, "--json"]));
    expect(byAgent.items.map((i: any) => i.entry.action)).toEqual([
      "token.issued",
      "token.issued",
      "token.issued",
    ]);
    const human = await ok([
      "audit",
      "query",
      "--principal",
      s.principal,
      "--action",
      "token.issued",
      "--limit",
      "2",
    ]);
    expect(human.trim().split("\n")).toHaveLength(2);
    expect(human).toMatch(new RegExp(`token\\.issued {2}by ${s.agent} {2}for ${s.principal}`));
    const tail = (await ok(["audit", "tail", "-n", "3", "--json"]))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(tail.map((i: any) => i.index)).toEqual([
      (await logSize()) - 3,
      (await logSize()) - 2,
      (await logSize()) - 1,
    ]);
    const whoToken = JSON.parse(await ok(["audit", "who", s.tokenId, "--json"]));
    expect(whoToken.entry).toMatchObject({
      action: "token.issued",
      token_id: s.tokenId,
      actor: { agent: s.agent, principal: s.principal },
    });
    expect(whoToken.agent.name).toBe("triage");
    expect(whoToken.grant.scopes).toEqual(["read"]);
    expect(whoToken.around.length).toBeGreaterThanOrEqual(4);
    const whoText = await ok(["audit", "who", String(whoToken.index)]);
    expect(whoText).toMatch(/agent\s+agt_\w+ \(triage\)/);
    expect(whoText).toMatch(/chain\s+- \(a root agent\)/);
    const jsonl = (await ok(["audit", "export", "--format", "jsonl"])).trim().split("\n");
    expect(jsonl).toHaveLength(await logSize());
    expect(jsonl[3]).toBe((await server.deputy.store.audit.get(3))!.entry); // exact bytes
    const ocsf = (await ok(["audit", "export", "--format", "ocsf"]))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const issued = ocsf.find((e) => e.metadata.event_code === "token.issued");
    expect(issued).toMatchObject({
      class_uid: 3002,
      activity_id: 1,
      type_uid: 300201,
      status_id: 1,
      user: { uid: s.agent },
    });
    const created = ocsf.find((e) => e.metadata.event_code === "principal.created");
    expect(created).toMatchObject({
      class_uid: 6003,
      activity_id: 1,
      type_uid: 600301,
      api: { operation: "principal.created" },
    });
    // A principal token sees its own entries only.
    const mine = JSON.parse(
      (
        await deputy(["audit", "query", "--limit", "1000", "--json"], {
          DEPUTY_ADMIN_TOKEN: s.principalToken,
        })
      ).stdout,
    );
    expect(mine.items.length).toBe(3);
  });

  it("verify: passes on an intact log, warns when the key is not pinned, and records a witness", async () => {
    const r = await deputy(["audit", "verify"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^OK: \d+ entries of 127\.0\.0\.1:\d+\/deputy-audit verified/);
    expect(r.stderr).toMatch(/warning: the log key is not pinned/);
    const witness = JSON.parse(await readFile(witnessPath(), "utf8"));
    const [origin] = Object.keys(witness.logs);
    expect(witness.logs[origin!].size).toBe(await logSize());
    // Second run: the witness remembers the key, so no warning, and consistency is checked.
    await ok(["principal", "create", "--type", "human", "--name", "Later", "-q"]);
    await published();
    const again = await deputy(["audit", "verify"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe("");
    expect(again.stdout).toMatch(/Consistent with the checkpoint of \d+ entries seen before/);
  });

  it("verify: an entry edited in the database fails, naming its index", async () => {
    const k = 5;
    const original = (await server.deputy.store.audit.get(k))!.entry;
    const edited = original
      .replace(/"decision":"\w+"/, '"decision":"denied"')
      .replace("token.issued", "token.refused");
    expect(edited).not.toBe(original);
    await sqlExec("UPDATE audit_log SET entry = $1 WHERE idx = $2", [edited, k]);
    try {
      const r = await deputy(["audit", "verify", "-q"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`ERR_AUDIT_ENTRY_EDITED: entry ${k} was altered`));
      expect(r.stderr).toMatch(new RegExp(`first bad index ${k}\\b`));
    } finally {
      await sqlExec("UPDATE audit_log SET entry = $1 WHERE idx = $2", [original, k]);
    }
    expect((await deputy(["audit", "verify"])).code).toBe(0);
  });

  it("verify: a forked checkpoint (same size, other root) and a rollback are refused loudly", async () => {
    const saved = await readFile(witnessPath(), "utf8");
    const witness = JSON.parse(saved);
    const origin = Object.keys(witness.logs)[0]!;
    try {
      witness.logs[origin].root = Buffer.alloc(32, 1).toString("base64");
      await writeFile(witnessPath(), JSON.stringify(witness));
      const fork = await deputy(["audit", "verify"]);
      expect(fork.code).not.toBe(0);
      expect(fork.stderr).toMatch(/ERR_AUDIT_FORK: refusing the log: two different roots for \d+ entries/);
      witness.logs[origin].size += 10;
      await writeFile(witnessPath(), JSON.stringify(witness));
      const rollback = await deputy(["audit", "verify"]);
      expect(rollback.code).not.toBe(0);
      expect(rollback.stderr).toMatch(/ERR_AUDIT_ROLLBACK: refusing the log: the log went back from/);
      // The witness file is left as it was (never overwritten by a refused log).
      expect(JSON.parse(await readFile(witnessPath(), "utf8"))).toEqual(witness);
    } finally {
      await writeFile(witnessPath(), saved);
    }
  });

  it("verify: a key other than the pinned one is refused", async () => {
    const other = "elsewhere.example/deputy-audit+6d6d4e3f+AcvKSJ2ZBDxAsv1HLrrP+T2wC6J3hE0z8nvlv8Jv1m0Y";
    const r = await deputy([
      "audit",
      "verify",
      "--log-key",
      other,
      "--witness-file",
      join(work, "other.json"),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERR_AUDIT_(UNKNOWN_KEY|BAD_KEY)/);
  });

  it("verify: a truncated log fails, naming the first missing index", async () => {
    const size = await logSize();
    const cut = size - 4;
    await sqlExec("DELETE FROM audit_log WHERE idx >= $1", [cut]);
    const r = await deputy(["audit", "verify", "-q"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`ERR_AUDIT_ENTRY_MISSING: entry ${cut} is missing`));
  });
});
