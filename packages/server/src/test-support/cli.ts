/**
 * Runs the built `deputy` CLI as a child process, the way a user would, against a given server.
 *
 * @example
 * const r = await runCli(["agent", "list", "--json"], { cwd, url: server.url, adminToken: server.adminToken });
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI_BIN = fileURLToPath(new URL("../../bin/deputy.js", import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { cwd: string; url: string; adminToken: string; env?: Record<string, string> },
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      {
        cwd: opts.cwd,
        // Only PATH from the parent: a developer's own DEPUTY_* settings must not leak into tests.
        env: {
          PATH: process.env.PATH ?? "",
          DEPUTY_URL: opts.url,
          DEPUTY_ADMIN_TOKEN: opts.adminToken,
          ...opts.env,
        },
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Runs `deputy <args> --json` and answers the parsed output; throws with the exit code and
 * stderr when the command fails.
 *
 * @example
 * const agent = await runCliJson(["agent", "show", id], { cwd, url, adminToken });
 */
export async function runCliJson<T = Record<string, any>>(
  args: string[],
  opts: { cwd: string; url: string; adminToken: string; env?: Record<string, string> },
): Promise<T> {
  const r = await runCli([...args, "--json"], opts);
  if (r.code !== 0) throw new Error(`deputy ${args.join(" ")}: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
