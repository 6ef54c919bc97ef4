/**
 * `deputy approval list|approve|deny|watch`: held broker calls waiting for a human. A principal
 * token (`--token dpp_…`) sees and decides its own agents' calls; the admin token sees all.
 *
 * @example
 * registerApproval(program);
 */
import type { Command } from "commander";
import { print, printFields, printJson, printPage } from "../output.js";
import { apiFor, globals, withExample, withJson, withPaging } from "./shared.js";

type Approval = Record<string, unknown> & {
  id: string;
  status: string;
  agent: string;
  connection: string;
  request: { method: string; url: string; body_sha256: string };
};
type Page = { items: Approval[]; next_cursor: string | null };

const row = (a: Approval) => ({
  id: a.id,
  status: a.status,
  agent: a.agent,
  call: `${a.request.method} ${a.request.url}`,
  body_sha256: `${a.request.body_sha256.slice(0, 12)}…`,
  expires_at: a.expires_at,
});

export function registerApproval(program: Command): void {
  const approval = program
    .command("approval")
    .description("held broker calls: see them, approve or deny them, watch for new ones");

  withExample(
    withPaging(
      withJson(
        approval
          .command("list")
          .description("list approvals (default: pending)")
          .option("--status <status>", "pending | approved | denied | used | all", "pending"),
      ),
    ),
    "deputy approval list",
    "deputy approval list --status all --json",
  ).action(async (opts: { status: string; limit?: string; cursor?: string }, cmd: Command) => {
    const page = await (await apiFor(cmd)).get<Page>("/v1/approvals", {
      status: opts.status === "all" ? undefined : opts.status,
      limit: opts.limit,
      cursor: opts.cursor,
    });
    if (globals(cmd).json) return printJson(page);
    printPage(
      { items: page.items.map(row), next_cursor: page.next_cursor },
      Object.keys(row(SAMPLE)),
      "Nothing waiting.",
    );
  });

  for (const [verb, path] of [
    ["approve", "approve"],
    ["deny", "deny"],
  ] as const) {
    withExample(
      withJson(
        approval
          .command(verb)
          .description(
            `${verb} a held call; the agent may then repeat it${verb === "deny" ? " (it will be refused)" : " once, unchanged"}`,
          )
          .argument("<id>", "apv_ id")
          .option("--reason <text>", "why (kept in the audit log)"),
      ),
      `deputy approval ${verb} apv_… --reason "checked the diff"`,
    ).action(async (id: string, opts: { reason?: string }, cmd: Command) => {
      const a = await (await apiFor(cmd)).post<Approval>(
        `/v1/approvals/${encodeURIComponent(id)}/${path}`,
        opts.reason ? { reason: opts.reason } : undefined,
      );
      if (globals(cmd).json) return printJson(a);
      print(`${a.id} ${a.status}: ${a.request.method} ${a.request.url}`);
      printFields([["receipt", a.receipt]]);
    });
  }

  withExample(
    withJson(
      approval
        .command("watch")
        .description("print pending approvals as they arrive (Ctrl-C to stop)")
        .option("--interval <seconds>", "how often to look", "2")
        .option("--timeout <seconds>", "stop after this long (default: never)"),
    ),
    "deputy approval watch",
    "deputy approval watch --json | jq .id",
  ).action(async (opts: { interval: string; timeout?: string }, cmd: Command) => {
    const api = await apiFor(cmd);
    const seen = new Set<string>();
    const until = opts.timeout ? Date.now() + Number(opts.timeout) * 1000 : Number.POSITIVE_INFINITY;
    const json = globals(cmd).json === true;
    for (;;) {
      let cursor: string | undefined;
      do {
        const page = await api.get<Page>("/v1/approvals", { status: "pending", cursor });
        for (const a of page.items) {
          if (seen.has(a.id)) continue;
          seen.add(a.id);
          if (json) print(JSON.stringify(a));
          else
            print(
              `${a.id}  ${a.agent}  ${a.request.method} ${a.request.url}  (deputy approval approve ${a.id})`,
            );
        }
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      if (Date.now() >= until) return;
      await new Promise((r) => setTimeout(r, Math.max(100, Number(opts.interval) * 1000)));
      if (Date.now() >= until) return;
    }
  });
}

const SAMPLE: Approval = {
  id: "",
  status: "",
  agent: "",
  connection: "",
  request: { method: "", url: "", body_sha256: "" },
};
