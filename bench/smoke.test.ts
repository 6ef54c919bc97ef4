/**
 * Proves in CI that the benchmarks still run: the shortest one, `node bench/run.js --quick verify`,
 * must finish and print figures with their same-run baseline and ratio. It asserts nothing about
 * speed: performance lives in the benchmarks themselves, never in timed tests.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const runJs = fileURLToPath(new URL("./run.js", import.meta.url));

describe("bench smoke", () => {
  it("runs the quick verify benchmark and prints ratio lines", async () => {
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      execFile(process.execPath, [runJs, "--quick", "verify"], { timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    // e.g. "in-process verify, …: 5,233 ops/s | baseline raw node:crypto Ed25519 verify: 5,939 ops/s | ratio 0.89 × | …"
    expect(stdout).toMatch(
      /: [\d,.]+ ops\/s \| baseline raw node:crypto Ed25519 verify: [\d,.]+ ops\/s \| ratio \d+(\.\d+)? ×/,
    );
  }, 60_000);
});
