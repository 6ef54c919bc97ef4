/**
 * Entry point of the `deputy` command (`bin/deputy.js` imports this). Exit codes: 0 success,
 * 1 failure (the server's `code` and a hint on stderr), 2 usage error.
 *
 * @example
 * // $ deputy agent list --json
 * await runCli(process.argv);
 */
import { CommanderError } from "commander";
import { describeError } from "./errors.js";
import { buildProgram } from "./program.js";

/** Runs the CLI and answers the exit code (it never calls `process.exit` itself). */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed the message (or the help).
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0
        ? 0
        : 2;
    }
    const { text, exitCode } = describeError(e);
    process.stderr.write(text);
    return exitCode;
  }
}

process.exitCode = await runCli(process.argv);
