/**
 * `deputy grant create|list|show|revoke`: durable delegations from a principal to an agent.
 *
 * @example
 * registerGrant(program);
 */
import { type Command, InvalidArgumentError } from "commander";
import { parseDuration } from "../duration.js";
import { UsageError } from "../errors.js";
import { print, printFields, printJson, printPage } from "../output.js";
import { printRevocation } from "./principal.js";
import { apiFor, globals, printedAsRequested, withExample, withJson, withPaging } from "./shared.js";

type Grant = Record<string, unknown> & { id: string; agent: string; scopes: string[]; resources: string[] };
type Page = { items: Grant[]; next_cursor: string | null };

const DEFAULT_EXPIRES_IN = "24h";

const collect = (value: string, previous: string[] = []) => [...previous, value];

function intIn(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    return n;
  };
}

interface CreateOpts {
  agent: string;
  scope: string[];
  resource: string[];
  expiresIn?: string;
  expiresAt?: string;
  maxDelegationDepth?: number;
  maxTokens?: number;
}

/** The JSON body of `POST /v1/grants` for the command's options. */
export function grantBody(opts: CreateOpts, nowMs = Date.now()): Record<string, unknown> {
  if (opts.expiresIn !== undefined && opts.expiresAt !== undefined) {
    throw new UsageError("use either --expires-in or --expires-at, not both");
  }
  let expiresAt: string;
  if (opts.expiresAt !== undefined) {
    const ms = Date.parse(opts.expiresAt);
    if (!Number.isFinite(ms))
      throw new UsageError(`--expires-at must be an ISO 8601 time, got "${opts.expiresAt}"`);
    expiresAt = new Date(ms).toISOString();
  } else {
    expiresAt = new Date(nowMs + parseDuration(opts.expiresIn ?? DEFAULT_EXPIRES_IN) * 1000).toISOString();
  }
  return {
    agent: opts.agent,
    scopes: opts.scope,
    resources: opts.resource,
    expires_at: expiresAt,
    ...(opts.maxDelegationDepth !== undefined ? { max_delegation_depth: opts.maxDelegationDepth } : {}),
    ...(opts.maxTokens !== undefined ? { constraints: { max_tokens: opts.maxTokens } } : {}),
  };
}

function printGrant(g: Record<string, unknown>): void {
  printFields([
    ["id", g.id],
    ["agent", g.agent],
    ["principal", g.principal],
    ["parent_grant", g.parent_grant],
    ["scopes", g.scopes],
    ["resources", g.resources],
    ["expires_at", g.expires_at],
    ["max_delegation_depth", g.max_delegation_depth],
    ["constraints", g.constraints],
    ["tokens_issued", g.tokens_issued],
    ["status", g.status],
  ]);
}

export function registerGrant(program: Command): void {
  const grant = program.command("grant").description("what an agent may do, on which resources, until when");

  withExample(
    withJson(
      grant
        .command("create")
        .description("grant an agent scopes on resources (default lifetime 24h)")
        .requiredOption("--agent <id>", "the agent (agt_)")
        .requiredOption("--scope <scope>", "a scope; repeat for more", collect)
        .requiredOption("--resource <audience>", "a registered resource audience; repeat for more", collect)
        .option("--expires-in <duration>", "lifetime such as 90m, 24h, 7d (default 24h)")
        .option("--expires-at <time>", "absolute expiry (ISO 8601)")
        .option(
          "--max-delegation-depth <n>",
          "how many hops of sub-agents may be delegated to (0-4, default 0)",
          intIn(0, 4),
        )
        .option("--max-tokens <n>", "most tokens this grant may ever mint", intIn(1, 1e12))
        .option("-q, --quiet", "print only the new id (for scripts)"),
    ),
    "deputy grant create --agent agt_… --scope tickets:read --scope tickets:write --resource https://api.example.com --expires-in 8h --max-delegation-depth 1",
  ).action(async (opts: CreateOpts, cmd: Command) => {
    const g = await (await apiFor(cmd)).post<Grant>("/v1/grants", grantBody(opts));
    if (printedAsRequested(cmd, g)) return;
    print(
      `Created grant ${g.id}: agent ${g.agent} may do ${g.scopes.join(" ")} on ${g.resources.join(", ")} until ${String(g.expires_at)}.`,
    );
  });

  withExample(
    withPaging(
      withJson(
        grant
          .command("list")
          .description("list grants")
          .option("--agent <id>", "only this agent's grants")
          .option("--status <status>", "active or revoked"),
      ),
    ),
    "deputy grant list --agent agt_…",
  ).action(async (opts: Record<string, string | undefined>, cmd: Command) => {
    const { agent, status, limit, cursor } = opts;
    const page = await (await apiFor(cmd)).get<Page>("/v1/grants", { agent, status, limit, cursor });
    if (globals(cmd).json) return printJson(page);
    printPage(
      page,
      ["id", "agent", "scopes", "resources", "expires_at", "status"],
      "No grants: deputy grant create --help",
    );
  });

  withExample(
    withJson(grant.command("show").description("show one grant").argument("<id>", "grt_ id")),
    "deputy grant show grt_…",
  ).action(async (id: string, _opts: unknown, cmd: Command) => {
    const g = await (await apiFor(cmd)).get<Grant>(`/v1/grants/${encodeURIComponent(id)}`);
    if (globals(cmd).json) return printJson(g);
    printGrant(g);
  });

  withExample(
    withJson(
      grant
        .command("revoke")
        .description("revoke a grant, the grants delegated from it, and their tokens")
        .argument("<id>", "grt_ id")
        .option("--reason <text>", "why (kept in the audit log)"),
    ),
    "deputy grant revoke grt_…",
  ).action(async (id: string, opts: { reason?: string }, cmd: Command) => {
    const body = opts.reason ? { reason: opts.reason } : {};
    const r = await (await apiFor(cmd)).post(`/v1/grants/${encodeURIComponent(id)}/revoke`, body);
    if (globals(cmd).json) return printJson(r);
    printRevocation("Revoked", r);
  });
}
