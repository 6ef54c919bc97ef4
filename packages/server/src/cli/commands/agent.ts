/**
 * `deputy agent create|list|show|revoke`. `create` generates the agent's key pair here, writes
 * the private key to a 0600 key file, and sends only the public key to the server.
 *
 * @example
 * registerAgent(program);
 */
import { relative, resolve } from "node:path";
import { generateAgentKey } from "@deputy/sdk";
import { type Command, Option } from "commander";
import type { ApiClient } from "../client.js";
import { reserveKeyFile } from "../key-file.js";
import { note, print, printFields, printJson, printPage } from "../output.js";
import { printRevocation } from "./principal.js";
import { apiFor, globals, printedAsRequested, withExample, withJson, withPaging } from "./shared.js";

type Agent = Record<string, unknown> & { id: string; name: string; principal: string; parent: string | null };
type Page = { items: Agent[]; next_cursor: string | null };

/** The issuer URL the server puts in its tokens (the key file records it for `deputy token`). */
export async function issuerOf(api: ApiClient): Promise<string> {
  const meta = await api.get<{ issuer: string }>("/.well-known/oauth-authorization-server");
  return meta.issuer;
}

export interface CreateAgentInput {
  principal: string;
  name: string;
  parent?: string | undefined;
  keyFile?: string | undefined;
  alg: "EdDSA" | "ES256";
}

/**
 * Generates a key pair, registers the agent with its public key, and writes the key file.
 * Answers the server's agent plus `kid` and `key_file`.
 *
 * @example
 * const agent = await createAgentWithKey(api, { principal: "prn_…", name: "triage", alg: "EdDSA" });
 */
export async function createAgentWithKey(
  api: ApiClient,
  input: CreateAgentInput,
  dir: string = process.cwd(),
): Promise<Agent & { kid: string; key_file: string }> {
  const issuer = await issuerOf(api);
  const pending = await reserveKeyFile(input.keyFile ?? null, dir);
  let agent: Agent;
  const key = await generateAgentKey(input.alg);
  try {
    agent = await api.post<Agent>("/v1/agents", {
      principal: input.principal,
      name: input.name,
      jwks: { keys: [key.publicJwk] },
      ...(input.parent ? { parent: input.parent } : {}),
    });
  } catch (e) {
    await pending.abort();
    throw e;
  }
  const path = resolve(dir, input.keyFile ?? `${agent.id}.key.json`);
  const keyFile = await pending.commit(
    { agent_id: agent.id, issuer, kid: key.kid, private_jwk: key.privateJwk },
    path,
  );
  return { ...agent, kid: key.kid, key_file: keyFile };
}

function printAgent(a: Record<string, unknown>): void {
  const keys = ((a.jwks as { keys?: Array<{ kid?: string; alg?: string }> } | undefined)?.keys ?? []).map(
    (k) => `${k.kid} (${k.alg})`,
  );
  printFields([
    ["id", a.id],
    ["name", a.name],
    ["principal", a.principal],
    ["parent", a.parent],
    ["chain", a.chain],
    ["status", a.status],
    ["created_at", a.created_at],
    ...(a.revoked_at
      ? ([["revoked_at", `${a.revoked_at} (${a.revoke_reason ?? "no reason given"})`]] as const)
      : []),
    ...(keys.length > 0 ? ([["keys", keys]] as const) : []),
  ]);
}

export function registerAgent(program: Command): void {
  const agent = program.command("agent").description("AI agents: identities with their own keys");

  withExample(
    withJson(
      agent
        .command("create")
        .description("register an agent; its key pair is generated here and only the public key is sent")
        .requiredOption("--principal <id>", "the principal it acts for (prn_)")
        .requiredOption("--name <name>", "a name for people reading logs")
        .option("--parent <id>", "make it a sub-agent of this agent (agt_)")
        .option(
          "--key-file <path>",
          "where to write the private key (default ./<agent id>.key.json, mode 0600)",
        )
        .addOption(new Option("--alg <alg>", "key algorithm").choices(["EdDSA", "ES256"]).default("EdDSA"))
        .option("-q, --quiet", "print only the new id (for scripts)"),
    ),
    "deputy agent create --principal prn_… --name ticket-triage",
    "deputy agent create --principal prn_… --name summarizer --parent agt_… --key-file ./summarizer.key.json",
  ).action(async (opts: Omit<CreateAgentInput, "alg"> & { alg: string }, cmd: Command) => {
    const created = await createAgentWithKey(await apiFor(cmd), {
      ...opts,
      alg: opts.alg as "EdDSA" | "ES256",
    });
    if (printedAsRequested(cmd, created)) return;
    const file = relative(process.cwd(), created.key_file) || created.key_file;
    print(
      `Created agent ${created.id} (${created.name}) acting for ${created.principal}${created.parent ? `, sub-agent of ${created.parent}` : ""}.`,
      `Private key written to ${file} (mode 0600); only the public key (kid ${created.kid}) was sent.`,
    );
    note(`next: deputy grant create --agent ${created.id} --scope <scope> --resource <audience>`);
  });

  withExample(
    withPaging(
      withJson(
        agent
          .command("list")
          .description("list agents")
          .option("--principal <id>", "only this principal's agents")
          .addOption(
            new Option("--status <status>", "only active or revoked agents").choices(["active", "revoked"]),
          )
          .option("--parent <id>", "only sub-agents of this agent"),
      ),
    ),
    "deputy agent list --principal prn_… --status active",
  ).action(async (opts: Record<string, string | undefined>, cmd: Command) => {
    const { principal, status, parent, limit, cursor } = opts;
    const page = await (await apiFor(cmd)).get<Page>("/v1/agents", {
      principal,
      status,
      parent,
      limit,
      cursor,
    });
    if (globals(cmd).json) return printJson(page);
    printPage(page, ["id", "name", "principal", "parent", "status"], "No agents: deputy agent create --help");
  });

  withExample(
    withJson(
      agent.command("show").description("show an agent and its public keys").argument("<id>", "agt_ id"),
    ),
    "deputy agent show agt_…",
  ).action(async (id: string, _opts: unknown, cmd: Command) => {
    const a = await (await apiFor(cmd)).get<Agent>(`/v1/agents/${encodeURIComponent(id)}`);
    if (globals(cmd).json) return printJson(a);
    printAgent(a);
  });

  withExample(
    withJson(
      agent
        .command("revoke")
        .description("revoke an agent, its sub-agents, and all their grants and tokens")
        .argument("<id>", "agt_ id")
        .option("--reason <text>", "why (kept in the audit log)"),
    ),
    'deputy agent revoke agt_… --reason "key leaked"',
  ).action(async (id: string, opts: { reason?: string }, cmd: Command) => {
    const body = opts.reason ? { reason: opts.reason } : {};
    const r = await (await apiFor(cmd)).post(`/v1/agents/${encodeURIComponent(id)}/revoke`, body);
    if (globals(cmd).json) return printJson(r);
    printRevocation("Revoked", r);
  });
}
