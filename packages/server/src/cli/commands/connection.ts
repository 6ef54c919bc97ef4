/**
 * `deputy connection add|list|show|rotate|rm`: upstream APIs whose secret Deputy keeps and
 * injects into agents' calls through `/proxy/<name>/…`. Secrets are read from an environment
 * variable or stdin, never from the command line (where `ps` and shell history would see them).
 *
 * @example
 * registerConnection(program);
 */
import type { Command } from "commander";
import { CliError } from "../errors.js";
import { note, print, printFields, printJson, printPage } from "../output.js";
import { apiFor, globals, withExample, withJson, withPaging } from "./shared.js";

type Connection = Record<string, unknown> & { id: string; name: string; audience: string };
type Page = { items: Connection[]; next_cursor: string | null };

/** The secret from `--secret-env NAME` or, with `--secret-stdin`, the first line of stdin. */
async function readSecret(opts: { secretEnv?: string; secretStdin?: boolean }): Promise<string> {
  if (opts.secretEnv) {
    const v = process.env[opts.secretEnv];
    if (!v)
      throw new CliError("ERR_INVALID_REQUEST", `environment variable ${opts.secretEnv} is empty or unset`);
    return v;
  }
  if (opts.secretStdin) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const v = Buffer.concat(chunks)
      .toString("utf8")
      .replace(/\r?\n$/, "");
    if (!v) throw new CliError("ERR_INVALID_REQUEST", "stdin was empty; pipe the secret in");
    return v;
  }
  throw new CliError(
    "ERR_INVALID_REQUEST",
    "give the secret with --secret-env <VAR> or --secret-stdin (never on the command line)",
  );
}

/** `scope:METHODS:glob[,glob…][:approval]`, e.g. `issues:write:POST,PATCH:/repos/*\/*\/issues:approval`. */
export function parseRule(text: string): Record<string, unknown> {
  const approval = text.endsWith(":approval");
  const body = approval ? text.slice(0, -":approval".length) : text;
  // The scope may itself contain ":" (issues:read), so take methods and paths from the right.
  const lastColon = body.lastIndexOf(":");
  const paths = body.slice(lastColon + 1);
  const rest = body.slice(0, lastColon);
  const methodsColon = rest.lastIndexOf(":");
  const methods = rest.slice(methodsColon + 1);
  const scope = rest.slice(0, methodsColon);
  if (lastColon < 0 || methodsColon <= 0 || !paths.startsWith("/") || !scope || !methods) {
    throw new CliError(
      "ERR_INVALID_REQUEST",
      `rule "${text}" is not scope:METHODS:/path-glob[,/glob…][:approval]`,
    );
  }
  return {
    scope,
    methods: methods.split(",").map((m) => m.trim().toUpperCase()),
    paths: paths.split(","),
    ...(approval ? { approval: "required" } : {}),
  };
}

export function registerConnection(program: Command): void {
  const connection = program
    .command("connection")
    .description("upstream APIs whose secret Deputy keeps; agents call them through /proxy/<name>/…");

  withExample(
    withJson(
      connection
        .command("add")
        .description("create a connection (admin); the secret is sealed in the vault and never shown again")
        .argument("<name>", "lower-case name, used in /proxy/<name>/…")
        .requiredOption("--upstream <url>", "base URL (https://; http:// only on loopback in development)")
        .option("--auth <type>", "bearer | header | basic | query", "bearer")
        .option("--auth-name <name>", "header name (auth header) or query parameter (auth query)")
        .option("--secret-env <VAR>", "read the secret from this environment variable")
        .option("--secret-stdin", "read the secret from stdin")
        .option(
          "--rule <rule>",
          "scope:METHODS:/glob[,/glob…][:approval] (repeatable); * is one segment, ** any depth",
          (v: string, acc: string[]) => [...acc, v],
          [] as string[],
        )
        .option("--audience <uri>", "resource audience (default urn:deputy:connection:<name>)"),
    ),
    'GITHUB_TOKEN=ghp_… deputy connection add github --upstream https://api.github.com --secret-env GITHUB_TOKEN \\\n      --rule "issues:read:GET:/repos/*/*/issues,/repos/*/*/issues/*" \\\n      --rule "issues:write:DELETE:/repos/*/*/issues/*:approval"',
    "printf %s \"$OPENAI_API_KEY\" | deputy connection add openai --upstream https://api.openai.com --secret-stdin --rule 'llm:POST:/v1/chat/completions'",
  ).action(
    async (
      name: string,
      opts: {
        upstream: string;
        auth: string;
        authName?: string;
        secretEnv?: string;
        secretStdin?: boolean;
        rule: string[];
        audience?: string;
      },
      cmd: Command,
    ) => {
      if (opts.rule.length === 0) throw new CliError("ERR_INVALID_REQUEST", "give at least one --rule");
      const secret = await readSecret(opts);
      const body = {
        name,
        upstream: opts.upstream,
        auth: { type: opts.auth, ...(opts.authName ? { name: opts.authName } : {}), secret },
        rules: opts.rule.map(parseRule),
        ...(opts.audience ? { audience: opts.audience } : {}),
      };
      const c = await (await apiFor(cmd)).post<Connection>("/v1/connections", body);
      if (globals(cmd).json) return printJson(c);
      print(
        `Created connection ${c.name} (${c.id}); agents call ${"/proxy/"}${c.name}/… with tokens for ${c.audience}.`,
      );
      note(`Grant it: deputy grant create --agent agt_… --resource ${c.audience} --scope <rule scope>`);
    },
  );

  withExample(
    withPaging(
      withJson(connection.command("list").description("list connections (secrets are never shown)")),
    ),
    "deputy connection list",
  ).action(async (opts: { limit?: string; cursor?: string }, cmd: Command) => {
    const page = await (await apiFor(cmd)).get<Page>("/v1/connections", {
      limit: opts.limit,
      cursor: opts.cursor,
    });
    if (globals(cmd).json) return printJson(page);
    printPage(
      {
        items: page.items.map((c) => ({
          ...c,
          auth: (c.auth as { type: string }).type,
          rules: (c.rules as unknown[]).length,
        })),
        next_cursor: page.next_cursor,
      },
      ["name", "id", "upstream", "audience", "auth", "rules"],
      "No connections yet.",
    );
  });

  withExample(
    withJson(
      connection.command("show").description("show one connection").argument("<name>", "name or con_ id"),
    ),
    "deputy connection show github",
  ).action(async (ref: string, _opts: unknown, cmd: Command) => {
    const c = await (await apiFor(cmd)).get<Connection>(`/v1/connections/${encodeURIComponent(ref)}`);
    if (globals(cmd).json) return printJson(c);
    printFields(
      Object.entries(c).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v] as const),
    );
  });

  withExample(
    withJson(
      connection
        .command("rotate")
        .description("replace a connection's secret (admin)")
        .argument("<name>", "name or con_ id")
        .option("--secret-env <VAR>", "read the new secret from this environment variable")
        .option("--secret-stdin", "read the new secret from stdin"),
    ),
    "NEW_TOKEN=ghp_… deputy connection rotate github --secret-env NEW_TOKEN",
  ).action(async (ref: string, opts: { secretEnv?: string; secretStdin?: boolean }, cmd: Command) => {
    const secret = await readSecret(opts);
    const c = await (await apiFor(cmd)).post<Connection>(
      `/v1/connections/${encodeURIComponent(ref)}/rotate`,
      {
        secret,
      },
    );
    if (globals(cmd).json) return printJson(c);
    print(`Rotated the secret of ${c.name}: now version ${(c.secret as { version: number }).version}.`);
  });

  withExample(
    withJson(
      connection
        .command("rm")
        .description("delete a connection (admin)")
        .argument("<name>", "name or con_ id"),
    ),
    "deputy connection rm github",
  ).action(async (ref: string, _opts: unknown, cmd: Command) => {
    await (await apiFor(cmd)).request("DELETE", `/v1/connections/${encodeURIComponent(ref)}`);
    if (globals(cmd).json) return printJson({ deleted: ref });
    print(`Deleted connection ${ref}.`);
  });
}
