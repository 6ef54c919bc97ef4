/**
 * Runs a real `deputy serve` child process for tests that need one (kill -9 durability, cluster
 * workers, replicas): picks nothing itself, starts `bin/deputy.js serve` with the given flags and
 * environment, and resolves once it prints that it is listening.
 *
 * @example
 * const port = await freePort();
 * const child = await startServeProcess(["--port", String(port)], { DEPUTY_DATA_DIR: dir });
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

export const DEPUTY_BIN = new URL("../../bin/deputy.js", import.meta.url).pathname;

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `deputy serve <args>` with `env` over the test's own environment (log level `error`), and
 * waits up to `timeoutMs` for it to listen; rejects with its output if it exits or times out.
 */
export async function startServeProcess(
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 20_000,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [DEPUTY_BIN, "serve", ...args], {
    env: { ...process.env, DEPUTY_LOG_LEVEL: "error", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // never leave a half-started server behind a failed test
      reject(new Error(`deputy serve did not start: ${out}`));
    }, timeoutMs);
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`deputy serve exited ${code}: ${out}`));
    });
  });
  return child;
}
