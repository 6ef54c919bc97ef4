/**
 * `deputy enrollment create|list|revoke`: codes that let agents register themselves in one call,
 * bound to a principal and capped by the enrollment's scopes and resources.
 *
 * @example
 * registerEnrollment(program);
 */
import { type Command, InvalidArgumentError } from "commander";
import { parseDuration } from "../duration.js";
import { note, print, printFields, printJson, printPage } from "../output.js";
import { apiFor, globals, withExample, withJson, withPaging } from "./shared.js";

type Enrollment = Record<string, unknown> & { id: string; enrollment_code?: string };
type Page = { items: Enrollment[]; next_cursor: string | null };

const collect = (value: string, previous: string[] = []) => [...previous, value];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1_000_000) {
    throw new InvalidArgumentError("expected an integer from 1 to 1000000.");
  }
  return n;
}

interface CreateOpts {
  principal: string;
  scope: string[];
  resource: string[];
  maxAgents: number;
  expiresIn: string;
  requireProvenance?: boolean;
}

export function registerEnrollment(program: Command): void {
  const enrollment = program
    .command("enrollment")
    .description("enrollment codes: agents register themselves with one request, capped by the code");

  withExample(
    withJson(
      enrollment
        .command("create")
        .description("create an enrollment code (shown once) for a principal")
        .requiredOption("--principal <id>", "the principal enrolled agents act for (prn_)")
        .requiredOption("--scope <scope>", "a scope enrolled agents get (repeatable)", collect)
        .requiredOption("--resource <audience>", "a registered resource they may use (repeatable)", collect)
        .requiredOption("--max-agents <n>", "how many agents may register with it", positiveInt)
        .option("--expires-in <duration>", "how long the code stays usable (60s to 30d)", "1h")
        .option("--require-provenance", "only agents with a verified software statement may register"),
    ),
    "deputy enrollment create --principal prn_… --scope tickets:read --resource https://api.example --max-agents 50 --expires-in 2h",
    "CODE=$(deputy enrollment create --principal prn_… --scope read --resource https://api.example --max-agents 1 --json | jq -r .enrollment_code)",
  ).action(async (opts: CreateOpts, cmd: Command) => {
    const e = await (await apiFor(cmd)).post<Enrollment>("/v1/enrollments", {
      principal: opts.principal,
      scopes: opts.scope,
      resources: opts.resource,
      max_agents: opts.maxAgents,
      expires_in: parseDuration(opts.expiresIn),
      ...(opts.requireProvenance ? { require_provenance: true } : {}),
    });
    if (globals(cmd).json) return printJson(e);
    print(
      `Created enrollment ${e.id} for ${e.principal}: up to ${e.max_agents} agents until ${e.expires_at}.`,
      `Enrollment code (shown once, keep it secret): ${e.enrollment_code}`,
    );
    note(`next: deputy agent enroll --code <code> --name <name>`);
  });

  withExample(
    withPaging(
      withJson(
        enrollment
          .command("list")
          .description("list enrollments")
          .option("--principal <id>", "only this principal's"),
      ),
    ),
    "deputy enrollment list --principal prn_…",
  ).action(async (opts: Record<string, string | undefined>, cmd: Command) => {
    const page = await (await apiFor(cmd)).get<Page>("/v1/enrollments", {
      principal: opts.principal,
      limit: opts.limit,
      cursor: opts.cursor,
    });
    if (globals(cmd).json) return printJson(page);
    printPage(
      page,
      ["id", "principal", "agents_enrolled", "max_agents", "status", "expires_at"],
      "No enrollments: deputy enrollment create --help",
    );
  });

  withExample(
    withJson(
      enrollment
        .command("revoke")
        .description("stop new registrations; with --cascade also revoke every agent it created")
        .argument("<id>", "enr_ id")
        .option("--cascade", "also revoke the agents registered with it (and their grants and tokens)")
        .option("--reason <text>", "why (kept in the audit log)"),
    ),
    'deputy enrollment revoke enr_… --cascade --reason "code leaked"',
  ).action(async (id: string, opts: { cascade?: boolean; reason?: string }, cmd: Command) => {
    const r = await (await apiFor(cmd)).post<{
      enrollment: Enrollment;
      revoked: { agents: number; grants: number; tokens: number };
    }>(`/v1/enrollments/${encodeURIComponent(id)}/revoke`, {
      ...(opts.cascade ? { cascade: true } : {}),
      ...(opts.reason ? { reason: opts.reason } : {}),
    });
    if (globals(cmd).json) return printJson(r);
    printFields([
      ["enrollment", r.enrollment.id],
      ["status", r.enrollment.status],
      ["agents revoked", r.revoked.agents],
      ["grants revoked", r.revoked.grants],
      ["tokens revoked", r.revoked.tokens],
    ]);
  });
}
