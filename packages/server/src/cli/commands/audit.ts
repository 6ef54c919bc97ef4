/**
 * `deputy audit tail|query|who|verify|export`: reading and checking the tamper-evident audit log.
 *
 * - `tail [-n N] [-f]`: the newest entries, then (with -f) new ones as they land.
 * - `query --agent|--principal|--action|--resource|--decision|--token|--since|--until`: one
 *   indexed query ("what did agent X do", "everything done for principal P, sub-agents included").
 * - `who <tok_… | index>`: which agent did it, through which chain, for whom, under which grant,
 *   and the entries around it.
 * - `verify`: the whole log against its signed checkpoint and the last checkpoint this machine
 *   witnessed (see audit/client/verify-log.ts); exits 1 naming the first bad index.
 * - `export --format jsonl|ocsf`: exact entry bytes, or OCSF events for a SIEM.
 *
 * @example
 * registerAudit(program);
 */
import { resolve } from "node:path";
import { encodeHash } from "@deputy/protocol";
import canonicalizeModule from "canonicalize";
import { type Command, Option } from "commander";
import { httpLogSource } from "../../audit/client/log-source.js";
import { toOcsf } from "../../audit/client/ocsf.js";
import { LogVerificationError, verifyLog } from "../../audit/client/verify-log.js";
import { DEFAULT_WITNESS_FILE, loadWitnessFile, saveWitnessFile } from "../../audit/client/witness.js";
import type { ApiClient } from "../client.js";
import { parseDuration } from "../duration.js";
import { CliError, UsageError } from "../errors.js";
import { note, print, printFields, printJson } from "../output.js";
import { apiFor, globals, withExample, withJson } from "./shared.js";

const canonicalize = canonicalizeModule as unknown as (value: unknown) => string;

interface Entry {
  index: number;
  action: string;
  at: string;
  decision?: string;
  actor?: {
    agent?: string | null;
    chain?: string[];
    principal?: string | null;
    kind?: string;
    resource_id?: string;
  };
  target?: string | null;
  token_id?: string | null;
  grant_id?: string | null;
  details?: Record<string, unknown>;
}
type Named = Record<string, unknown> & { name?: string };
interface Item {
  index: number;
  entry: Entry;
}
interface EventsPage {
  items: Item[];
  next_cursor: string | null;
}

/** Most events the server returns per page. */
const PAGE = 1000;

/** `--since 15m` (that long ago), an RFC 3339 time, or epoch seconds → what the server takes. */
export function timeArg(value: string | undefined, now = Date.now()): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d+[smhd]$/.test(value)) return new Date(now - parseDuration(value) * 1000).toISOString();
  if (/^\d{1,11}$/.test(value) || !Number.isNaN(Date.parse(value))) return value;
  throw new UsageError(`invalid time "${value}": use an RFC 3339 time, epoch seconds, or an age like 15m`);
}

/** One entry as a line: index, time, decision, action, who (chain) for whom, target, token. */
export function entryLine({ index, entry }: Item): string {
  const actor = entry.actor ?? {};
  const who = actor.agent
    ? [actor.agent, ...(actor.chain ?? [])].join(" ← ")
    : actor.kind === "admin"
      ? "admin"
      : (actor.resource_id ?? actor.kind ?? "-");
  const parts = [
    `#${index}`,
    entry.at,
    (entry.decision ?? "").padEnd(7),
    entry.action,
    `by ${who}`,
    ...(actor.principal ? [`for ${actor.principal}`] : []),
    ...(entry.target ? [`on ${entry.target}`] : []),
    ...(entry.token_id ? [`token ${entry.token_id}`] : []),
    ...(entry.details?.code ? [`(${entry.details.code})`] : []),
  ];
  return parts.join("  ");
}

function events(api: ApiClient, query: Record<string, string | undefined>): Promise<EventsPage> {
  return api.get<EventsPage>("/v1/audit/events", query);
}

function printItems(items: Item[], json: boolean | undefined): void {
  for (const item of items) print(json ? JSON.stringify(item) : entryLine(item));
}

export function registerAudit(program: Command): void {
  const audit = program
    .command("audit")
    .description("the tamper-evident audit log: who did what, for whom; verify it was never altered");

  withExample(
    withJson(
      audit
        .command("tail")
        .description("show the newest entries; with -f, keep printing new ones")
        .option("-n, --lines <n>", "how many recent entries", "20")
        .option("-f, --follow", "keep running and print entries as they are appended")
        .option("--interval <ms>", "how often -f polls", "1000"),
    ),
    "deputy audit tail -n 50",
    "deputy audit tail -f --json | jq .entry.action",
  ).action(async (opts: { lines: string; follow?: boolean; interval: string }, cmd: Command) => {
    const api = await apiFor(cmd);
    const json = globals(cmd).json;
    const n = Number(opts.lines);
    if (!Number.isInteger(n) || n < 0 || n > PAGE) throw new UsageError(`--lines must be 0..${PAGE}`);
    const interval = Number(opts.interval);
    if (!Number.isInteger(interval) || interval < 100) throw new UsageError("--interval must be ≥ 100 ms");
    let last = -1;
    if (n > 0) {
      const page = await events(api, { order: "desc", limit: String(n) });
      const items = page.items.reverse();
      printItems(items, json);
      last = items.at(-1)?.index ?? -1;
    }
    if (!opts.follow) return;
    if (last < 0) {
      const newest = await events(api, { order: "desc", limit: "1" });
      last = newest.items[0]?.index ?? -1;
    }
    for (;;) {
      let page: EventsPage;
      do {
        page = await events(api, { ...(last >= 0 ? { after: String(last) } : {}), limit: String(PAGE) });
        printItems(page.items, json);
        last = page.items.at(-1)?.index ?? last;
      } while (page.next_cursor);
      await new Promise((r) => setTimeout(r, interval));
    }
  });

  withExample(
    withJson(
      audit
        .command("query")
        .description("entries matching every filter given, oldest first (one indexed query)")
        .option("--agent <id>", "done by this agent (agt_)")
        .option("--principal <id>", "done on behalf of this principal, by any of its agents or sub-agents")
        .option("--action <action>", "e.g. token.issued, agent.revoked")
        .option("--resource <audience>", "involving this resource audience")
        .addOption(new Option("--decision <decision>", "the outcome").choices(["allowed", "denied", "info"]))
        .option("--token <id>", "about this token (tok_)")
        .option("--since <time>", "RFC 3339, epoch seconds, or an age like 15m")
        .option("--until <time>", "RFC 3339, epoch seconds, or an age like 15m")
        .option("--limit <n>", "at most this many entries", "50")
        .option("--cursor <cursor>", "continue from a previous page"),
    ),
    "deputy audit query --agent agt_… --since 24h",
    "deputy audit query --principal prn_… --decision denied",
  ).action(async (opts: Record<string, string | undefined>, cmd: Command) => {
    const api = await apiFor(cmd);
    const wanted = Number(opts.limit);
    if (!Number.isInteger(wanted) || wanted < 1) throw new UsageError("--limit must be a positive integer");
    const filters = {
      agent: opts.agent,
      principal: opts.principal,
      action: opts.action,
      resource: opts.resource,
      decision: opts.decision,
      token: opts.token,
      since: timeArg(opts.since),
      until: timeArg(opts.until),
    };
    const items: Item[] = [];
    let cursor = opts.cursor;
    do {
      const page = await events(api, {
        ...filters,
        cursor,
        limit: String(Math.min(PAGE, wanted - items.length)),
      });
      items.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor && items.length < wanted);
    if (globals(cmd).json) return printJson({ items, next_cursor: cursor ?? null });
    if (items.length === 0) return print("No matching entries.");
    printItems(items, false);
    if (cursor) note(`more: repeat with --cursor ${cursor}`);
  });

  withExample(
    withJson(
      audit
        .command("who")
        .description(
          "which agent did it, through which chain, for whom, under which grant; and what surrounds it",
        )
        .argument("<tok_id|index>", "a token id (tok_…) or an audit entry index"),
    ),
    "deputy audit who tok_…",
    "deputy audit who 4711",
  ).action(async (subject: string, _opts: unknown, cmd: Command) => {
    const api = await apiFor(cmd);
    const report = await who(api, subject);
    if (globals(cmd).json) return printJson(report);
    const actor = report.entry.actor ?? {};
    printFields([
      ["entry", `#${report.index} ${report.entry.action} (${report.entry.decision}) at ${report.entry.at}`],
      [
        "agent",
        actor.agent
          ? `${actor.agent}${report.agent?.name ? ` (${report.agent.name})` : ""}`
          : (actor.kind ?? "-"),
      ],
      ["chain", actor.chain?.length ? actor.chain.join(" ← ") : "- (a root agent)"],
      [
        "principal",
        actor.principal
          ? `${actor.principal}${report.principal?.name ? ` (${report.principal.name})` : ""}`
          : "-",
      ],
      ["grant", report.entry.grant_id ?? "-"],
      ...(report.grant
        ? ([
            ["  scopes", report.grant.scopes],
            ["  resources", report.grant.resources],
            ["  expires_at", report.grant.expires_at],
            ["  parent_grant", report.grant.parent_grant],
          ] as const)
        : []),
      ["token", report.entry.token_id ?? "-"],
    ]);
    if (report.token_events.length > 0) {
      print("", `Everything about ${report.entry.token_id}:`);
      printItems(report.token_events, false);
    }
    print("", "Around it in the log:");
    printItems(report.around, false);
  });

  withExample(
    audit
      .command("verify")
      .description(
        "check the whole log against its signed checkpoint and the last one this machine saw; exits 1 naming the first bad entry",
      )
      .option(
        "--log-key <vkey>",
        "the log's verifier key (<name>+<id>+<key>); default: the server's metadata (trust on first use)",
      )
      .option("--witness-file <path>", "where the last verified checkpoint is kept", DEFAULT_WITNESS_FILE)
      .option("--json", "print the result as JSON")
      .option("-q, --quiet", "no progress on stderr"),
    "deputy audit verify",
    "deputy audit verify --log-key 'deputy.example/deputy-audit+1a2b3c4d+AV…' --witness-file ~/deputy-witness.json",
  ).action(
    async (opts: { logKey?: string; witnessFile: string; json?: boolean; quiet?: boolean }, cmd: Command) => {
      const api = await apiFor(cmd);
      const witnessPath = resolve(opts.witnessFile);
      const witness = await loadWitnessFile(witnessPath);
      const started = Date.now();
      const progress = progressPrinter(opts.quiet === true);
      let report: Awaited<ReturnType<typeof verifyLog>>;
      try {
        report = await verifyLog({
          // The CLI's own client resolved the token (flag, env or local admin.token): reuse it.
          source: httpLogSource(api.url, (api as unknown as { token: string | null }).token),
          pinnedKey: opts.logKey,
          witness: (origin) => witness.logs[origin],
          onProgress: progress,
          onWarning: (message) => note(`warning: ${message}`),
        });
      } catch (e) {
        progress.done();
        if (e instanceof LogVerificationError) {
          throw new CliError(
            e.code,
            e.message,
            e.index !== undefined
              ? `compare the entry with a backup: deputy audit who ${e.index}; the witness file was left unchanged`
              : "the witness file was left unchanged; investigate before trusting this log",
          );
        }
        throw e;
      }
      progress.done();
      witness.logs[report.origin] = {
        size: report.size,
        root: encodeHash(report.rootHash),
        key: report.key,
        checkpoint: report.checkpoint,
        verified_at: new Date().toISOString(),
      };
      await saveWitnessFile(witnessPath, witness);
      const seconds = (Date.now() - started) / 1000;
      if (opts.json) {
        return printJson({
          ok: true,
          origin: report.origin,
          size: report.size,
          root: encodeHash(report.rootHash),
          previous_size: report.previousSize,
          seconds,
        });
      }
      print(
        `OK: ${report.size.toLocaleString("en-US")} entries of ${report.origin} verified against the signed root ${encodeHash(report.rootHash)} in ${seconds.toFixed(1)} s.`,
        report.previousSize === null
          ? `First verification here: checkpoint recorded in ${witnessPath}.`
          : `Consistent with the checkpoint of ${report.previousSize.toLocaleString("en-US")} entries seen before; ${witnessPath} updated.`,
      );
    },
  );

  withExample(
    audit
      .command("export")
      .description("write entries to stdout: exact entry bytes (jsonl) or OCSF events (ocsf), one per line")
      .addOption(new Option("--format <format>", "output format").choices(["jsonl", "ocsf"]).default("jsonl"))
      .option("--since <time>", "RFC 3339, epoch seconds, or an age like 24h")
      .option("--until <time>", "RFC 3339, epoch seconds, or an age like 24h"),
    "deputy audit export --format ocsf --since 24h > deputy-ocsf.jsonl",
  ).action(async (opts: { format: string; since?: string; until?: string }, cmd: Command) => {
    const api = await apiFor(cmd);
    let cursor: string | undefined;
    const range = { since: timeArg(opts.since), until: timeArg(opts.until) };
    do {
      const page = await events(api, { ...range, cursor, limit: String(PAGE) });
      const lines = page.items.map(({ index, entry }) =>
        // RFC 8785 gives back the very bytes that were hashed, so a jsonl export verifies.
        opts.format === "ocsf" ? JSON.stringify(toOcsf(index, entry)) : canonicalize(entry),
      );
      if (lines.length > 0) process.stdout.write(`${lines.join("\n")}\n`);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  });
}

interface WhoReport {
  index: number;
  entry: Entry;
  agent: Named | null;
  principal: Named | null;
  grant: Named | null;
  token_events: Item[];
  around: Item[];
}

/** Resolves `deputy audit who`'s subject to its entry, then the objects it names. */
async function who(api: ApiClient, subject: string): Promise<WhoReport> {
  let index: number;
  let entry: Entry;
  let tokenEvents: Item[] = [];
  if (/^tok_/.test(subject)) {
    tokenEvents = (await events(api, { token: subject, limit: String(PAGE) })).items;
    const issued =
      tokenEvents.find((i) => i.entry.action === "token.issued" || i.entry.action === "token.exchanged") ??
      tokenEvents[0];
    if (!issued) throw new CliError("ERR_NOT_FOUND", `no audit entry mentions ${subject}`);
    ({ index, entry } = issued);
  } else if (/^\d+$/.test(subject)) {
    index = Number(subject);
    entry = await api.get<Entry>(`/v1/audit/entries/${index}`);
    if (entry.token_id)
      tokenEvents = (await events(api, { token: entry.token_id, limit: String(PAGE) })).items;
  } else {
    throw new UsageError("give a token id (tok_…) or an entry index");
  }
  const optional = <T>(p: Promise<T>) => p.catch(() => null);
  const actor = entry.actor ?? {};
  const [agent, principal, grant] = await Promise.all([
    actor.agent ? optional(api.get<Named>(`/v1/agents/${actor.agent}`)) : null,
    actor.principal ? optional(api.get<Named>(`/v1/principals/${actor.principal}`)) : null,
    entry.grant_id ? optional(api.get<Named>(`/v1/grants/${entry.grant_id}`)) : null,
  ]);
  const around: Item[] = [];
  for (let i = Math.max(0, index - 3); i <= index + 3; i++) {
    const e = i === index ? entry : await optional(api.get<Entry>(`/v1/audit/entries/${i}`));
    if (e) around.push({ index: i, entry: e });
  }
  return { index, entry, agent, principal, grant, token_events: tokenEvents, around };
}

/** Progress on stderr for large logs: a live line on a terminal, else a line every 10%. */
function progressPrinter(quiet: boolean): ((done: number, total: number) => void) & { done(): void } {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  let shown = false;
  const fn = (done: number, total: number) => {
    if (quiet || total < 20_000) return;
    const pct = Math.floor((done / total) * 100);
    const text = `verified ${done.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} entries (${pct}%)`;
    if (tty) {
      process.stderr.write(`\r${text}`);
      shown = true;
    } else if (Math.floor(pct / 10) > lastDecile) {
      lastDecile = Math.floor(pct / 10);
      process.stderr.write(`${text}\n`);
    }
  };
  return Object.assign(fn, {
    done() {
      if (shown) process.stderr.write("\n");
      shown = false;
    },
  });
}
