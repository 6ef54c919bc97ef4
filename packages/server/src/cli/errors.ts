/**
 * How the CLI fails: a usage error exits 2, anything else 1. Every message goes to stderr with
 * the server's stable `code` and a hint of what to do next.
 *
 * @example
 * throw new UsageError("--expires-in and --expires-at are mutually exclusive");
 */
import { DeputyClientError } from "@deputy/sdk";

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** A failure with a code and a hint, raised by the CLI itself (exit code 1). */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** What to try next, per server code (problem `code` or OAuth `error`). */
const HINTS: Record<string, string> = {
  ERR_NETWORK: "is the server running? Start it with `deputy serve`, or point --url / DEPUTY_URL at it.",
  ERR_UNAUTHENTICATED:
    "run the CLI where `deputy serve` keeps ./.deputy/admin.token, or pass --token / set DEPUTY_ADMIN_TOKEN.",
  ERR_FORBIDDEN: "this needs the admin token (--token or DEPUTY_ADMIN_TOKEN).",
  ERR_NOT_FOUND:
    "check the id: `deputy principal list`, `deputy agent list` or `deputy grant list` show what exists.",
  ERR_INVALID_REQUEST: "see `deputy <command> --help` for the expected flags.",
  ERR_UNKNOWN_RESOURCE:
    "register the audience first: `deputy resource create --audience <url> --name <name>`.",
  ERR_PRINCIPAL_DISABLED: "the principal is disabled; create a new principal for new agents.",
  ERR_AGENT_REVOKED: "the agent is revoked; create a new one with `deputy agent create`.",
  ERR_CONFLICT: "something with that identity already exists; list it with the matching `list` command.",
  invalid_client:
    "the agent is unknown or revoked, or its key file is from another server (`deputy agent show <id>`).",
  invalid_scope: "ask only for scopes the agent's grant holds (`deputy grant list --agent <id>`).",
  invalid_target:
    "pass --resource with an audience the agent holds a grant for (`deputy grant list --agent <id>`).",
  invalid_grant: "the grant is missing, expired or revoked: `deputy grant create --agent <id> …`.",
  invalid_dpop_proof: "check the machine's clock; DPoP proofs are only valid for a minute.",
};

/** The hint for a code, if there is one. */
export function hintFor(code: string): string | undefined {
  return HINTS[code];
}

/**
 * Formats any error for stderr and picks the exit code.
 *
 * @example
 * const { text, exitCode } = describeError(e);
 * process.stderr.write(text);
 */
export function describeError(e: unknown): { text: string; exitCode: number } {
  if (e instanceof UsageError) return { text: `error: ${e.message}\n`, exitCode: 2 };
  if (e instanceof DeputyClientError || e instanceof CliError) {
    const hint = e instanceof CliError ? (e.hint ?? hintFor(e.code)) : hintFor(e.code);
    const status = e instanceof DeputyClientError && e.status > 0 ? ` (HTTP ${e.status})` : "";
    return {
      text: `error: ${e.code}${status}: ${e.message}\n${hint ? `hint: ${hint}\n` : ""}`,
      exitCode: 1,
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { text: `error: ${message}\n`, exitCode: 1 };
}
