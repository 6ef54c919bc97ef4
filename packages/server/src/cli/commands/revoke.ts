/**
 * `deputy revoke <id>`: revokes anything by id (principal, agent, grant or token) with the same
 * cascades as the specific commands.
 *
 * @example
 * registerRevoke(program);
 */
import type { Command } from "commander";
import { printJson } from "../output.js";
import { printRevocation } from "./principal.js";
import { apiFor, globals, withExample, withJson } from "./shared.js";

export function registerRevoke(program: Command): void {
  withExample(
    withJson(
      program
        .command("revoke")
        .description("revoke a principal, agent, grant or token by id, with everything below it")
        .argument("<id>", "a prn_, agt_, grt_ or tok_ id")
        .option("--reason <text>", "why (kept in the audit log)"),
    ),
    "deputy revoke tok_…",
    'deputy revoke agt_… --reason "compromised runner"',
  ).action(async (id: string, opts: { reason?: string }, cmd: Command) => {
    const r = await (await apiFor(cmd)).post("/v1/revocations", {
      target: id,
      ...(opts.reason ? { reason: opts.reason } : {}),
    });
    if (globals(cmd).json) return printJson(r);
    printRevocation("Revoked", r);
  });
}
