/**
 * `deputy resource create|list|show|update`: APIs and MCP servers (audiences) that accept Deputy tokens.
 *
 * @example
 * registerResource(program);
 */
import { type Command, Option } from "commander";
import { UsageError } from "../errors.js";
import { note, print, printFields, printJson, printPage } from "../output.js";
import { apiFor, globals, withExample, withJson, withPaging } from "./shared.js";

type Resource = Record<string, unknown> & { id: string; audience: string; name: string };
type Page = { items: Resource[]; next_cursor: string | null };

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerResource(program: Command): void {
  const resource = program.command("resource").description("APIs and MCP servers that accept Deputy tokens");

  withExample(
    withJson(
      resource
        .command("create")
        .description("register a resource (audience); prints its introspection secret once")
        .requiredOption("--audience <url>", "the resource's identifier, the `aud` of its tokens")
        .requiredOption("--name <name>", "display name")
        .option("--allow-bearer", "also accept tokens that are not DPoP-bound (weaker; off by default)")
        .option("--require-provenance", "issue tokens for it only to agents with verified provenance")
        .option(
          "--code-digest <digest>",
          "allow only agents with this verified code_digest (repeatable)",
          collect,
        ),
    ),
    'deputy resource create --audience https://api.example.com --name "Example API"',
    "deputy resource create --audience https://deploy.example.com --name Deploy --require-provenance --code-digest sha256:…",
  ).action(
    async (
      opts: {
        audience: string;
        name: string;
        allowBearer?: boolean;
        requireProvenance?: boolean;
        codeDigest?: string[];
      },
      cmd: Command,
    ) => {
      const body = {
        audience: opts.audience,
        name: opts.name,
        ...(opts.allowBearer ? { allow_bearer: true } : {}),
        ...(opts.requireProvenance ? { require_provenance: true } : {}),
        ...(opts.codeDigest ? { code_digests: opts.codeDigest } : {}),
      };
      const r = await (await apiFor(cmd)).post<Resource & { client_secret: string }>("/v1/resources", body);
      if (globals(cmd).json) return printJson(r);
      print(`Registered resource ${r.id} for audience ${r.audience}.`, `client_secret: ${r.client_secret}`);
      note(
        "WARNING: the client secret is shown only this once. Store it in the resource server's secret store;",
        `it authenticates introspection as HTTP Basic ${r.id}:<secret>.`,
      );
    },
  );

  withExample(
    withJson(
      resource
        .command("update")
        .description("change which agents may get tokens for a resource, by their provenance (admin)")
        .argument("<id>", "res_ id")
        .addOption(
          new Option("--require-provenance <yes|no>", "only agents with verified provenance").choices([
            "yes",
            "no",
          ]),
        )
        .option(
          "--code-digest <digest>",
          "allow only agents with this verified code_digest (repeatable)",
          collect,
        )
        .option("--any-code-digest", "remove the code_digest allow-list")
        .addOption(
          new Option(
            "--accept-unbound-provenance <yes|no>",
            "let the two above accept a software statement not bound to the agent's key (default no)",
          ).choices(["yes", "no"]),
        ),
    ),
    "deputy resource update res_… --require-provenance yes",
    "deputy resource update res_… --code-digest sha256:… --code-digest sha256:…",
  ).action(
    async (
      id: string,
      opts: {
        requireProvenance?: string;
        codeDigest?: string[];
        anyCodeDigest?: boolean;
        acceptUnboundProvenance?: string;
      },
      cmd: Command,
    ) => {
      if (opts.codeDigest && opts.anyCodeDigest)
        throw new UsageError("use --code-digest or --any-code-digest, not both");
      const body = {
        ...(opts.requireProvenance ? { require_provenance: opts.requireProvenance === "yes" } : {}),
        ...(opts.codeDigest ? { code_digests: opts.codeDigest } : {}),
        ...(opts.anyCodeDigest ? { code_digests: null } : {}),
        ...(opts.acceptUnboundProvenance
          ? { accept_unbound_provenance: opts.acceptUnboundProvenance === "yes" }
          : {}),
      };
      if (Object.keys(body).length === 0) {
        throw new UsageError(
          "nothing to change: pass --require-provenance, --code-digest, --any-code-digest or --accept-unbound-provenance",
        );
      }
      const r = await (await apiFor(cmd)).request<Resource>(
        "PATCH",
        `/v1/resources/${encodeURIComponent(id)}`,
        body,
      );
      if (globals(cmd).json) return printJson(r);
      printFields(Object.entries(r));
    },
  );

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
