/**
 * `deputy resource create|list|show`: APIs and MCP servers (audiences) that accept Deputy tokens.
 *
 * @example
 * registerResource(program);
 */
import type { Command } from "commander";
import { note, print, printFields, printJson, printPage } from "../output.js";
import { apiFor, globals, withExample, withJson, withPaging } from "./shared.js";

type Resource = Record<string, unknown> & { id: string; audience: string; name: string };
type Page = { items: Resource[]; next_cursor: string | null };

export function registerResource(program: Command): void {
  const resource = program.command("resource").description("APIs and MCP servers that accept Deputy tokens");

  withExample(
    withJson(
      resource
        .command("create")
        .description("register a resource (audience); prints its introspection secret once")
        .requiredOption("--audience <url>", "the resource's identifier, the `aud` of its tokens")
        .requiredOption("--name <name>", "display name")
        .option("--allow-bearer", "also accept tokens that are not DPoP-bound (weaker; off by default)"),
    ),
    'deputy resource create --audience https://api.example.com --name "Example API"',
  ).action(async (opts: { audience: string; name: string; allowBearer?: boolean }, cmd: Command) => {
    const body = {
      audience: opts.audience,
      name: opts.name,
      ...(opts.allowBearer ? { allow_bearer: true } : {}),
    };
    const r = await (await apiFor(cmd)).post<Resource & { client_secret: string }>("/v1/resources", body);
    if (globals(cmd).json) return printJson(r);
    print(`Registered resource ${r.id} for audience ${r.audience}.`, `client_secret: ${r.client_secret}`);
    note(
      "WARNING: the client secret is shown only this once. Store it in the resource server's secret store;",
      `it authenticates introspection as HTTP Basic ${r.id}:<secret>.`,
    );
  });

  withExample(
    withPaging(withJson(resource.command("list").description("list resources"))),
    "deputy resource list",
  ).action(async (opts: { limit?: string; cursor?: string }, cmd: Command) => {
    const page = await (await apiFor(cmd)).get<Page>("/v1/resources", {
      limit: opts.limit,
      cursor: opts.cursor,
    });
    if (globals(cmd).json) return printJson(page);
    printPage(page, ["id", "audience", "name", "allow_bearer", "builtin"], "No resources yet.");
  });

  withExample(
    withJson(resource.command("show").description("show one resource").argument("<id>", "res_ id")),
    "deputy resource show res_…",
  ).action(async (id: string, _opts: unknown, cmd: Command) => {
    const r = await (await apiFor(cmd)).get<Resource>(`/v1/resources/${encodeURIComponent(id)}`);
    if (globals(cmd).json) return printJson(r);
    printFields(Object.entries(r));
  });
}
