/**
 * `deputy claim <code>`: a human principal takes ownership of a temporary agent (with their own
 * principal token: `--token dpp_…` or DEPUTY_ADMIN_TOKEN is not enough, the admin cannot claim).
 *
 * @example
 * registerClaim(program);
 */
import type { Command } from "commander";
import { print, printJson } from "../output.js";
import { apiFor, globals, withExample, withJson } from "./shared.js";

/** The claim code from a code or a claim URL (`…/v1/claims/<code>`). */
export function claimCodeOf(text: string): string {
  const trimmed = text.trim();
  const i = trimmed.lastIndexOf("/");
  return i >= 0 ? trimmed.slice(i + 1) : trimmed;
}

export function registerClaim(program: Command): void {
  withExample(
    withJson(
      program
        .command("claim")
        .description("claim a temporary agent for yourself (a human principal's token)")
        .argument("<code>", "the claim code, or the whole claim URL"),
    ),
    "deputy claim dcl_… --token dpp_…",
    "deputy claim http://127.0.0.1:4747/v1/claims/dcl_… --token dpp_…",
  ).action(async (code: string, _opts: unknown, cmd: Command) => {
    const agent = await (await apiFor(cmd)).post<Record<string, unknown>>(
      `/v1/claims/${encodeURIComponent(claimCodeOf(code))}`,
      {},
    );
    if (globals(cmd).json) return printJson(agent);
    print(`Claimed agent ${agent.id} (${agent.name}); it now acts for ${agent.principal}.`);
  });
}
