/**
 * The `deputy` command tree: `deputy <noun> <verb>`. Every command only talks to the server's
 * HTTP API (except `serve` and `demo`, which start one).
 *
 * @example
 * await buildProgram().parseAsync(["node", "deputy", "agent", "list", "--json"]);
 */
import { Command } from "commander";
import { registerAgent } from "./commands/agent.js";
import { registerApproval } from "./commands/approval.js";
import { registerAudit } from "./commands/audit.js";
import { registerClaim } from "./commands/claim.js";
import { registerConnection } from "./commands/connection.js";
import { registerDemo } from "./commands/demo.js";
import { registerEnrollment } from "./commands/enrollment.js";
import { registerGrant } from "./commands/grant.js";
import { registerKeys } from "./commands/keys.js";
import { registerPrincipal } from "./commands/principal.js";
import { registerResource } from "./commands/resource.js";
import { registerRevoke } from "./commands/revoke.js";
import { registerServe } from "./commands/serve.js";
import { withExample } from "./commands/shared.js";
import { registerToken } from "./commands/token.js";

export const VERSION = "0.1.0";

export function buildProgram(): Command {
  const program = new Command("deputy")
    .description("Deputy: identities, scoped short-lived credentials and revocation for AI agents")
    .version(VERSION)
    .option("--url <url>", "Deputy server URL [env DEPUTY_URL, default http://127.0.0.1:4747]")
    .option(
      "--token <token>",
      "admin or principal token [env DEPUTY_ADMIN_TOKEN, default ./.deputy/admin.token]",
    )
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError()
    // Usage errors leave through main.ts, which maps them to exit code 2.
    .exitOverride();
  withExample(
    program,
    "deputy serve",
    "deputy demo",
    "deputy principal create --type human --name Alice",
    "deputy agent create --principal prn_… --name ticket-triage",
  );

  registerServe(program);
  registerDemo(program);
  registerPrincipal(program);
  registerAgent(program);
  registerEnrollment(program);
  registerClaim(program);
  registerGrant(program);
  registerResource(program);
  registerToken(program);
  registerRevoke(program);
  registerKeys(program);
  registerAudit(program);
  registerConnection(program);
  registerApproval(program);
  return program;
}
