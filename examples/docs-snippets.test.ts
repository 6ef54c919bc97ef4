/**
 * The code blocks of docs/sdk.md, run as pasted: the five-line agent and the Express API, each
 * in its own `node` process against a real Deputy. Only the placeholders (key file, URLs, ids,
 * port) are replaced by the real ones.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type LiveDeputy, startLiveDeputy } from "../packages/sdk/test/support/live-deputy.js";

const here = fileURLToPath(new URL(".", import.meta.url));

function block(md: string, tag: string): string {
  const m = new RegExp(`\`\`\`js ${tag}\\n([\\s\\S]*?)\`\`\``).exec(md);
  if (!m?.[1]) throw new Error(`docs/sdk.md has no \`\`\`js ${tag} block`);
  return m[1];
}

function replaceAll(code: string, pairs: Array<[string, string]>): string {
  let out = code;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`placeholder ${from} is gone from the snippet`);
    out = out.split(from).join(to);
  }
  return out;
}

describe("docs/sdk.md snippets", () => {
  let live: LiveDeputy;
  let dir: string;
  let api: ChildProcess | undefined;

  beforeAll(async () => {
    live = await startLiveDeputy();
    // Inside the repository, so the snippets resolve @deputy/sdk and express from node_modules.
    dir = await mkdtemp(join(here, ".snippets-"));
  });
  afterAll(async () => {
    api?.kill();
    await rm(dir, { recursive: true, force: true });
    await live?.close();
  });

  it("the Express API and the five-line agent work as written", async () => {
    const md = await readFile(join(here, "../docs/sdk.md"), "utf8");
    const audience = "https://api.example.com";
    const principal = await live.principal();
    const resource = await live.resource(audience);
    const a = await live.agent({ principal, scopes: ["tickets:read"], resources: [audience] });
    const port = await freePort();

    const apiCode = replaceAll(block(md, "api-express"), [
      ["http://127.0.0.1:4747", live.issuer],
      ["res_4bq1x", resource.id],
      ["app.listen(8080)", `app.listen(${port}, "127.0.0.1")`],
    ]);
    await writeFile(join(dir, "api.mjs"), apiCode);
    api = spawn(process.execPath, [join(dir, "api.mjs")], {
      env: { ...process.env, DEPUTY_RESOURCE_SECRET: resource.secret },
      stdio: "inherit",
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await fetch(`http://127.0.0.1:${port}/tickets`).then(
        (r) => r.status,
        () => 0,
      );
      if (up === 401) break;
      if (Date.now() > deadline) throw new Error("the API snippet did not start");
      await new Promise((r) => setTimeout(r, 100));
    }

    const agentCode = replaceAll(block(md, "agent-five-lines"), [
      ["./agt_7k2fq.key.json", a.keyFile],
      ["https://api.example.com/tickets", `http://127.0.0.1:${port}/tickets`],
    ]);
    expect(
      agentCode
        .trim()
        .split("\n")
        .filter((l) => l.trim() !== ""),
    ).toHaveLength(4);
    await writeFile(join(dir, "agent.mjs"), agentCode);
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, "agent.mjs")]);
    expect(stdout).toContain("200");
    expect(stdout).toContain(a.id);
    expect(stdout).toContain(principal);
  });
});
