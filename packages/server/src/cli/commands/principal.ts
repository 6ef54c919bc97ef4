/**
 * `deputy principal create|token|disable|list|show`: the humans and services agents act for.
 *
 * @example
 * registerPrincipal(program);
 */
import { type Command, Option } from "commander";
import { note, print, printFields, printJson, printPage } from "../output.js";
import { apiFor, globals, printedAsRequested, withExample, withJson, withPaging } from "./shared.js";

type Principal = Record<string, unknown> & { id: string; type: string; name: string };
type Page = { items: Principal[]; next_cursor: string | null };

function printPrincipal(p: Record<string, unknown>): void {
  printFields([
    ["id", p.id],
    ["type", p.type],
    ["name", p.name],
    ["email", p.email],
    ["status", p.status],
    ["created_at", p.created_at],
    ...(p.disabled_at ? ([["disabled_at", p.disabled_at]] as const) : []),
  ]);
}

/** Prints a revocation answer ({target, revoked: {…}}) as one line. */
export function printRevocation(verb: string, r: Record<string, unknown>): void {
  const n = (r.revoked ?? {}) as Record<string, number>;
  print(
    `${verb} ${String(r.target)}: revoked ${n.agents ?? 0} agent(s), ${n.grants ?? 0} grant(s), ${n.tokens ?? 0} token(s).`,
  );
}

export function registerPrincipal(program: Command): void {
  const principal = program
    .command("principal")
    .description("humans and services on whose behalf agents act");

  withExample(
    withJson(
      principal
        .command("create")
        .description("register a principal")
        .addOption(
          new Option("--type <type>", "human or service").choices(["human", "service"]).makeOptionMandatory(),
        )
        .requiredOption("--name <name>", "display name")
        .option("--email <email>", "contact email")
        .option("-q, --quiet", "print only the new id (for scripts)"),
    ),
    "deputy principal create --type human --name Alice --email alice@example.com",
  ).action(async (opts: { type: string; name: string; email?: string }, cmd: Command) => {
    const api = await apiFor(cmd);
    const body = { type: opts.type, name: opts.name, ...(opts.email ? { email: opts.email } : {}) };
    const p = await api.post<Principal>("/v1/principals", body);
    if (printedAsRequested(cmd, p)) return;
    print(`Created ${p.type} principal ${p.id} (${p.name}).`);
    note(`next: deputy agent create --principal ${p.id} --name <agent name>`);
  });

  withExample(
    withJson(
      principal
        .command("token")
        .description("mint a principal token (shown once)")
        .argument("<id>", "prn_ id"),
    ),
    "deputy principal token prn_…",
  ).action(async (id: string, _opts: unknown, cmd: Command) => {
    const t = await (await apiFor(cmd)).post<{ token: string }>(
      `/v1/principals/${encodeURIComponent(id)}/tokens`,
    );
    if (globals(cmd).json) return printJson(t);
    print(t.token);
    note(
      "This token is shown once. With it (--token or DEPUTY_ADMIN_TOKEN), the principal manages only its own agents and grants.",
    );
  });

  withExample(
    withJson(
      principal
        .command("disable")
        .description("disable a principal: every agent, grant and token below it is revoked")
        .argument("<id>", "prn_ id")
        .option("--reason <text>", "why (kept in the audit log)"),
    ),
    'deputy principal disable prn_… --reason "left the company"',
  ).action(async (id: string, opts: { reason?: string }, cmd: Command) => {
    const body = opts.reason ? { reason: opts.reason } : {};
    const r = await (await apiFor(cmd)).post(`/v1/principals/${encodeURIComponent(id)}/disable`, body);
    if (globals(cmd).json) return printJson(r);
    printRevocation("Disabled", r);
  });

  withExample(
    withPaging(withJson(principal.command("list").description("list principals"))),
    "deputy principal list --json",
  ).action(async (opts: { limit?: string; cursor?: string }, cmd: Command) => {
    const page = await (await apiFor(cmd)).get<Page>("/v1/principals", {
      limit: opts.limit,
      cursor: opts.cursor,
    });
    if (globals(cmd).json) return printJson(page);
    printPage(
      page,
      ["id", "type", "name", "status", "created_at"],
      "No principals yet: deputy principal create --help",
    );
  });

  withExample(
    withJson(principal.command("show").description("show one principal").argument("<id>", "prn_ id")),
    "deputy principal show prn_…",
  ).action(async (id: string, _opts: unknown, cmd: Command) => {
    const p = await (await apiFor(cmd)).get<Principal>(`/v1/principals/${encodeURIComponent(id)}`);
    if (globals(cmd).json) return printJson(p);
    printPrincipal(p);
  });
}
