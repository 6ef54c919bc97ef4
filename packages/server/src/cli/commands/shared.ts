/**
 * Pieces every command shares: the connection from global options, `--json`, list paging
 * options, and a teaching example under `--help`.
 *
 * @example
 * const cmd = withExample(program.command("list").description("…"), "deputy agent list --json");
 */
import type { Command } from "commander";
import { type ApiClient, connect } from "../client.js";
import { print, printJson } from "../output.js";

/** Global options (`--url`, `--token`) merged with the command's own. */
export function globals(cmd: Command): { url?: string; token?: string; json?: boolean; quiet?: boolean } {
  return cmd.optsWithGlobals();
}

/** Prints a created object per `--json` / `--quiet`; answers true when it did. */
export function printedAsRequested(cmd: Command, created: { id: string }): boolean {
  const { json, quiet } = globals(cmd);
  if (json) printJson(created);
  else if (quiet) print(created.id);
  return json === true || quiet === true;
}

/** A client for the server named by the global options. */
export function apiFor(cmd: Command): Promise<ApiClient> {
  const { url, token } = globals(cmd);
  return connect({ url, token });
}

/** Adds `--json`. */
export function withJson(cmd: Command): Command {
  return cmd.option("--json", "print machine-readable JSON to stdout");
}

/** Adds `--limit` and `--cursor` (lists are paginated). */
export function withPaging(cmd: Command): Command {
  return cmd
    .option("--limit <n>", "items per page (server default 50)")
    .option("--cursor <cursor>", "next page");
}

/** Adds an "Example:" block to `--help`. */
export function withExample(cmd: Command, ...examples: string[]): Command {
  return cmd.addHelpText(
    "after",
    `\nExample${examples.length > 1 ? "s" : ""}:\n${examples.map((e) => `  $ ${e}`).join("\n")}\n`,
  );
}
