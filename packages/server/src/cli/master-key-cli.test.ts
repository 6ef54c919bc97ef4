/**
 * Master-key rotation the way an operator does it, with the built CLI as a child process against
 * a live server on a real data dir (SQLite, or PostgreSQL with DEPUTY_TEST_DATABASE_URL):
 * `deputy keys rotate-master`, restart, `deputy keys master-status`, `deputy keys rewrap`, drop
 * the old key from master.key, restart. Run `npx tsc -b` first (the CLI runs from dist/).
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { masterKeyId } from "../crypto/master-key-ring.js";
import { createLogger, type RunningDeputy, startDeputy } from "../serve.js";
import { runCli, runCliJson } from "../test-support/cli.js";
import { dropSchema, uniqueSchemaName } from "../test-support/store.js";

const PG_URL = process.env.DEPUTY_TEST_DATABASE_URL;
const SECRET = "ghp_master_cli_secret_0123456789";
let server: RunningDeputy | undefined;
let dataDir: string;
let work: string;
let schema: string | undefined;

const start = async () => {
  server = await startDeputy({
    port: 0,
    dataDir,
    env: {},
    logger: createLogger("silent"),
    brokerAllowHttpLoopback: true,
    masterKeyRewrapOnStart: false,
    ...(PG_URL && schema ? { databaseUrl: PG_URL, databaseSchema: schema } : {}),
  });
};
const restart = async () => {
  await server?.close();
  server = undefined;
  await start();
};
const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { cwd: work, url: server!.url, adminToken: server!.adminToken, env });
const json = (args: string[], env: Record<string, string> = {}) =>
  runCliJson(args, { cwd: work, url: server!.url, adminToken: server!.adminToken, env });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "deputy-mk-cli-"));
  work = await mkdtemp(join(tmpdir(), "deputy-mk-cli-work-"));
  schema = PG_URL ? uniqueSchemaName() : undefined;
  await start();
});

afterAll(async () => {
  await server?.close();
  if (PG_URL && schema) await dropSchema(PG_URL, schema);
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe("deputy keys rotate-master, master-status, rewrap", () => {
  it("rotates the master key of a running deployment without losing anything", async () => {
    const oldId = masterKeyId(
      Buffer.from((await readFile(join(dataDir, "master.key"), "utf8")).trim(), "base64"),
    );
    await json(
      [
        "connection",
        "add",
        "github",
        "--upstream",
        "http://127.0.0.1:9/base",
        "--secret-env",
        "GH_TOKEN",
        "--rule",
        "issues:read:GET:/repos/*/*/issues",
      ],
      { GH_TOKEN: SECRET },
    );
    expect(await json(["keys", "master-status"])).toMatchObject({
      active_key_id: oldId,
      ring: [oldId],
      references: { [oldId]: 3 },
      remaining: 0,
    });

    const rotated = await json(["keys", "rotate-master", "--data-dir", dataDir]);
    const newId = rotated.added as string;
    expect(rotated).toEqual({ added: newId, ring: [newId, oldId], file: join(dataDir, "master.key") });
    expect((await stat(join(dataDir, "master.key"))).mode & 0o777).toBe(0o600);

    await restart();
    const status = await cli(["keys", "master-status"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`active key +${newId}\n`));
    expect(status.stdout).toMatch(/still to re-seal +3\n/);
    expect(status.stdout).toContain(`sealed by:\n  ${oldId}  3 value(s)\n`);
    expect(status.stdout).toContain("Older keys are still referenced: run `deputy keys rewrap`");

    const rewrap = await json(["keys", "rewrap"]);
    expect(rewrap).toEqual({
      rewrapped: 3,
      active_key_id: newId,
      ring: [newId, oldId],
      total: 3,
      references: { [newId]: 3 },
      remaining: 0,
      unreadable: [],
    });
    const after = await cli(["keys", "master-status"]);
    expect(after.stdout).toContain(`Nothing here references ${oldId}`);

    // Drop the old key (what the operator does by hand), restart: everything still opens.
    const lines = (await readFile(join(dataDir, "master.key"), "utf8")).trim().split("\n");
    await writeFile(join(dataDir, "master.key"), `${lines[0]}\n`, { mode: 0o600 });
    await restart();
    expect(await json(["keys", "master-status"])).toMatchObject({
      ring: [newId],
      references: { [newId]: 3 },
    });
    expect(
      await json(["connection", "rotate", "github", "--secret-env", "GH_TOKEN"], { GH_TOKEN: "x" }),
    ).toMatchObject({
      secret: { version: 2 },
    });
    expect((await json(["keys", "rotate"])).active_kid).toEqual(expect.any(String));
  });

  it("--help teaches with examples; a missing data dir is a clear error", async () => {
    const help = await cli(["keys", "rotate-master", "--help"]);
    expect(help.stdout).toContain("$ deputy keys rotate-master --standby --data-dir /var/lib/deputy");
    const missing = await cli(["keys", "rotate-master", "--data-dir", join(work, "nope")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("ERR_MASTER_KEY_FILE");
    expect(missing.stderr).toContain("master.key does not exist");
  });

  it("refuses while another master-key change holds master.key.lock, telling the operator what to do", async () => {
    const lock = join(dataDir, "master.key.lock");
    const before = await readFile(join(dataDir, "master.key"), "utf8");
    await writeFile(lock, `${process.pid} ${hostname()}\n`);
    try {
      const held = await cli(["keys", "rotate-master", "--data-dir", dataDir]);
      expect(held.code).toBe(1);
      expect(held.stderr).toContain("ERR_MASTER_KEY_LOCKED");
      expect(held.stderr).toContain(`${lock} is held by process ${process.pid} on ${hostname()}`);
      expect(held.stderr).toContain(
        `wait for it to finish and run this again; if no such command is running`,
      );
      expect(await readFile(join(dataDir, "master.key"), "utf8")).toBe(before);
    } finally {
      await rm(lock, { force: true });
    }
  });
});
