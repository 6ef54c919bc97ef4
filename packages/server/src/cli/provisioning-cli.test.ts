/**
 * The provisioning commands of the built CLI against a live server (SQLite, or PostgreSQL in a
 * fresh schema when DEPUTY_TEST_DATABASE_URL is set): enrollment create/list/revoke, agent
 * enroll (key file + first token), agent temporary (proof of work, claim URL), claim.
 * Run `npx tsc -b` first: the CLI runs from dist/.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type RunningDeputy, startDeputy } from "../serve.js";
import { type CliRun, runCli, runCliJson } from "../test-support/cli.js";
import { signJwt, testKey, thumbprint } from "../test-support/keys.js";
import { dropSchema, uniqueSchemaName } from "../test-support/store.js";

const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const PG_URL = process.env.DEPUTY_TEST_DATABASE_URL;
const AUDIENCE = "https://api.example.com";

let server: RunningDeputy;
let dataDir: string;
let work: string;
let schema: string | undefined;

function deputy(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: work, url: server.url, adminToken: server.adminToken });
}

function json<T = Record<string, any>>(args: string[]): Promise<T> {
  return runCliJson<T>(args, { cwd: work, url: server.url, adminToken: server.adminToken });
}

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error("build first: npx tsc -b (the CLI runs from dist/)");
  dataDir = await mkdtemp(join(tmpdir(), "deputy-cli-prov-data-"));
  work = await mkdtemp(join(tmpdir(), "deputy-cli-prov-work-"));
  schema = PG_URL ? uniqueSchemaName() : undefined;
  server = await startDeputy({
    port: 0,
    dataDir,
    env: {},
    logger: createLogger("silent"),
    powDifficulty: 10,
    sandboxScopes: "read",
    sandboxResources: AUDIENCE,
    ...(PG_URL && schema ? { databaseUrl: PG_URL, databaseSchema: schema } : {}),
  });
});

afterAll(async () => {
  await server?.close();
  if (PG_URL && schema) await dropSchema(PG_URL, schema);
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

// Each command is a fresh Node process (~0.5 s each on the shared 2-core machine, more under load),
// and the first test runs about twenty of them.
describe("deputy provisioning commands", { timeout: 90_000 }, () => {
  it("enrollment create → agent enroll → token; list; revoke --cascade", async () => {
    const p = await json(["principal", "create", "--type", "human", "--name", "Ada"]);
    await json(["resource", "create", "--audience", AUDIENCE, "--name", "API"]);
    const e = await json([
      "enrollment",
      "create",
      "--principal",
      p.id,
      "--scope",
      "read",
      "--resource",
      AUDIENCE,
      "--max-agents",
      "2",
      "--expires-in",
      "10m",
    ]);
    expect(e).toMatchObject({
      principal: p.id,
      max_agents: 2,
      enrollment_code: expect.stringMatching(/^den_/),
    });

    const human = await deputy(["agent", "enroll", "--code", e.enrollment_code, "--name", "runner-1"]);
    expect(human.code).toBe(0);
    const agentId = human.stdout.split("\n")[0];
    expect(agentId).toMatch(/^agt_[a-z2-7]{26}$/);
    expect(human.stdout).toContain("provenance: none");
    const keyFile = join(work, `${agentId}.key.json`);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const tok = await json(["token", "--key-file", keyFile]);
    expect(tok.claims).toMatchObject({ client_id: agentId, sub: p.id, agent_prov: { verified: false } });

    const enrolled = await json(["agent", "enroll", "--code", e.enrollment_code, "--name", "runner-2"]);
    expect(enrolled.agent).toMatchObject({ principal: p.id, enrollment: e.id });
    expect(enrolled.key_file).toBe(join(work, `${enrolled.agent.id}.key.json`));
    const third = await deputy(["agent", "enroll", "--code", e.enrollment_code, "--name", "runner-3"]);
    expect(third.code).toBe(1);
    expect(third.stderr).toContain("ERR_ENROLLMENT_EXHAUSTED");

    const list = await json(["enrollment", "list"]);
    expect(list.items).toEqual([expect.objectContaining({ id: e.id, agents_enrolled: 2 })]);
    const shown = await deputy(["agent", "show", agentId!]);
    expect(shown.stdout).toMatch(/provenance\s+none/);

    // The resource now demands verified provenance: the enrolled agent's next token is refused.
    const res = (await json(["resource", "list"])).items.find(
      (r: { audience: string }) => r.audience === AUDIENCE,
    );
    const updated = await json(["resource", "update", res.id, "--require-provenance", "yes"]);
    expect(updated).toMatchObject({ require_provenance: true, code_digests: null });
    const refused = await deputy(["token", "--key-file", keyFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("requires verified provenance");
    await json(["resource", "update", res.id, "--require-provenance", "no"]);
    const nothing = await deputy(["resource", "update", res.id]);
    expect(nothing.code).toBe(2);

    const revoked = await json(["enrollment", "revoke", e.id, "--cascade", "--reason", "done"]);
    expect(revoked.revoked).toEqual({ agents: 2, grants: 2, tokens: 1 });
  });

  it("agent temporary solves the proof of work with progress on stderr; claim binds it", async () => {
    const p = await json(["principal", "create", "--type", "human", "--name", "Bea"]);
    const { token } = (await fetch(`${server.url}/v1/principals/${p.id}/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.adminToken}` },
    }).then((r) => r.json())) as { token: string };
    const r = await deputy(["agent", "temporary", "--name", "scratch"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/solved proof of work \(10 bits\) in \d+ ms/);
    const claimUrl = r.stdout.split("\n")[0]!;
    expect(claimUrl).toMatch(new RegExp(`^${server.url}/v1/claims/dcl_`));

    const claimed = await json(["claim", claimUrl, "--token", token]);
    expect(claimed).toMatchObject({ principal: p.id, claimed_at: expect.any(String), ceiling: null });
    const again = await deputy(["claim", claimUrl, "--token", token]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("ERR_CLAIM_USED");
  });

  it("agent keygen → a launcher binds its statement to that key → agent enroll --key registers it, bound", async () => {
    const keyPath = join(work, "ci-43.jwk.json");
    const generated = await json(["agent", "keygen", "--out", keyPath]);
    expect(generated).toEqual({
      kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      key_file: keyPath,
      public_jwk: {
        kty: "OKP",
        crv: "Ed25519",
        x: expect.any(String),
        kid: generated.kid,
        alg: "EdDSA",
        use: "sig",
      },
    });
    // The kid is the RFC 7638 thumbprint, computed here independently.
    expect(thumbprint(generated.public_jwk)).toBe(generated.kid);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    const again = await deputy(["agent", "keygen", "--out", keyPath]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("ERR_KEY_FILE_EXISTS");

    // The launcher (a registered provenance issuer, binding required by default) signs for that key.
    const launcher = testKey(95);
    const registered = await fetch(`${server.url}/v1/provenance-issuers`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: "CI",
        issuer: "https://ci.cli.test",
        jwks: { keys: [launcher.publicJwk] },
      }),
    });
    expect(registered.status).toBe(201);
    const now = Math.floor(Date.now() / 1000);
    const statementPath = join(work, "statement.jwt");
    await writeFile(
      statementPath,
      signJwt(
        launcher,
        { typ: "JWT", kid: launcher.kid },
        {
          iss: "https://ci.cli.test",
          sub: "run-43",
          code_digest: "sha256:c1",
          cnf: { jkt: generated.kid },
          iat: now,
          exp: now + 300,
        },
      ),
    );
    const p = await json(["principal", "create", "--type", "human", "--name", "Grace"]);
    const e = await json([
      "enrollment",
      "create",
      "--principal",
      p.id,
      "--scope",
      "read",
      "--resource",
      AUDIENCE,
      "--max-agents",
      "1",
      "--expires-in",
      "10m",
    ]);
    const enrolled = await json([
      "agent",
      "enroll",
      "--code",
      e.enrollment_code,
      "--name",
      "ci-43",
      "--key",
      keyPath,
      "--provenance-statement",
      statementPath,
    ]);
    expect(enrolled.kid).toBe(generated.kid);
    expect(enrolled.agent.provenance).toMatchObject({
      status: "verified",
      verified: { iss: "https://ci.cli.test", code_digest: "sha256:c1", bound: true },
    });
    // The generated file itself became the agent's key file: one copy of the private key, 0600.
    expect(enrolled.key_file).toBe(keyPath);
    const keyFile = JSON.parse(await readFile(keyPath, "utf8"));
    expect(keyFile).toMatchObject({ agent_id: enrolled.agent.id, kid: generated.kid });
    expect(existsSync(join(work, `${enrolled.agent.id}.key.json`))).toBe(false);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    const tok = await json(["token", "--key-file", enrolled.key_file]);
    expect(tok.claims.agent_prov).toEqual({
      verified: true,
      iss: "https://ci.cli.test",
      code_digest: "sha256:c1",
      bound: true,
    });

    // A file without a private key is refused before anything is registered.
    const bad = join(work, "public-only.json");
    await writeFile(bad, JSON.stringify({ private_jwk: generated.public_jwk }));
    // `agent enroll --key <file>` on this enrollment, with more arguments.
    const enrollWithKey = (key: string, ...more: string[]) =>
      deputy(["agent", "enroll", "--code", e.enrollment_code, "--name", "x", "--key", key, ...more]);
    const both = await enrollWithKey(keyPath, "--key-file", "./k.json");
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("--key and --key-file do not go together");
    const refused = await enrollWithKey(bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("ERR_KEY_FILE");
    expect(refused.stderr).toContain("deputy agent keygen --out");
    // A damaged key file: the error names the file, never the text around the parse error (a
    // JSON parser quotes it, and here it is private key material).
    const damaged = join(work, "damaged.json");
    await writeFile(damaged, '{"private_jwk":{"kty":"OKP","d":SECRETPRIVATEKEYMATERIAL}}');
    const broken = await enrollWithKey(damaged);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`the key file ${damaged} is not JSON`);
    expect(broken.stderr).not.toContain("SECRETPRIVATE");
  });

  it("--help shows examples for every provisioning command", async () => {
    for (const args of [
      ["enrollment", "create"],
      ["enrollment", "list"],
      ["enrollment", "revoke"],
      ["agent", "keygen"],
      ["agent", "enroll"],
      ["agent", "temporary"],
      ["claim"],
      ["resource", "update"],
    ]) {
      const h = await deputy([...args, "--help"]);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/Examples?:\n {2}\$ deputy /);
      expect(h.stdout).toContain("--json");
    }
  });
});
