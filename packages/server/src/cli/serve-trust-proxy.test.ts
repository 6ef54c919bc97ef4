/**
 * `deputy serve` with DEPUTY_TRUST_PROXY, as a real child process (run `npx tsc -b` first): a
 * malformed entry or a /0 range stops the start with a message naming it.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEPUTY_BIN, freePort } from "../test-support/serve-process.js";

let dataDir: string | undefined;
afterEach(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Runs `deputy serve`; once it listens, stops it with SIGTERM. Resolves with its exit and output. */
async function serve(trustProxy: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  dataDir = await mkdtemp(join(tmpdir(), "deputy-trust-proxy-"));
  const port = await freePort();
  const child = spawn(process.execPath, [DEPUTY_BIN, "serve", "--port", String(port)], {
    // Only PATH from the parent: a developer's own DEPUTY_* settings must not leak into the test.
    env: {
      PATH: process.env.PATH ?? "",
      DEPUTY_DATA_DIR: dataDir,
      DEPUTY_LOG_LEVEL: "error",
      DEPUTY_TRUST_PROXY: trustProxy,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => {
    stdout += b.toString();
    if (stdout.includes("listening")) child.kill("SIGTERM");
  });
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  // Node's own warnings (a dependency's deprecation notice) are not Deputy's output.
  return {
    code,
    stdout,
    stderr: stderr.replace(/^\(node:\d+\).*\n|^\(Use `node --trace-warnings.*\n/gm, ""),
  };
}

describe("deputy serve with DEPUTY_TRUST_PROXY", () => {
  it("refuses to start on a malformed entry, naming it", async () => {
    const r = await serve("10.0.0.0/8, 10.0.0.0/33");
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'error: trustProxy (DEPUTY_TRUST_PROXY): "10.0.0.0/33" has an invalid prefix length (IPv4: 1 to 32)\n',
    });
  });

  it("refuses to start on a /0 range, which would believe every peer", async () => {
    const r = await serve("::/0");
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'error: trustProxy (DEPUTY_TRUST_PROXY): "::/0" would believe X-Forwarded-For from every peer, so any client could choose its own address; list your proxies\' addresses\n',
    });
  });

  it("starts with a list of proxies", async () => {
    const r = await serve("10.0.0.0/8, 2001:db8:ffff::/48");
    expect(r.stdout).toContain("Deputy is listening on");
    expect(r.stderr).not.toContain("error:");
    // The SIGTERM lands right after "listening" is printed: the handlers are installed before
    // the server starts, so it is a graceful stop (exit 0), never a kill by the signal.
    expect(r.code).toBe(0);
  });
});
