/**
 * `deputy agent create|list|show|revoke`. `create` generates the agent's key pair here, writes
 * the private key to a 0600 key file, and sends only the public key to the server.
 *
 * @example
 * registerAgent(program);
 */
import { open, readFile } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { generateAgentKey } from "@deputy/sdk";
import { type Command, Option } from "commander";
import { solveChallenge } from "../../provision/pow.js";
import type { ApiClient } from "../client.js";
import { CliError } from "../errors.js";
import { readGeneratedKey, replaceKeyFile, reserveKeyFile } from "../key-file.js";
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
  const out = await registerWithKey(
    api,
    { keyFile: input.keyFile, alg: input.alg },
    async (publicJwk) => ({
      agent: await api.post<Agent>("/v1/agents", {
        principal: input.principal,
        name: input.name,
        jwks: { keys: [publicJwk] },
        ...(input.parent ? { parent: input.parent } : {}),
      }),
    }),
    dir,
  );
  return { ...out.agent, kid: out.kid, key_file: out.key_file };
}

/**
 * Generates a key pair, calls `register` with the public JWK (any registration endpoint), and
 * writes the 0600 key file for the agent it answers. Nothing is written if registration fails.
 *
 * @example
 * const { agent, key_file } = await registerWithKey(api, { alg: "EdDSA" }, async (jwk) => ({ agent: await enroll(jwk) }));
 */
export async function registerWithKey<R extends { agent: Agent }>(
  api: ApiClient,
  opts: { keyFile?: string | undefined; alg: "EdDSA" | "ES256"; key?: string | undefined },
  register: (publicJwk: Record<string, unknown>) => Promise<R>,
  dir: string = process.cwd(),
): Promise<R & { kid: string; key_file: string }> {
  const issuer = await issuerOf(api);
  if (opts.key !== undefined) {
    if (opts.keyFile !== undefined) {
      throw new CliError(
        "ERR_INVALID_REQUEST",
        "--key and --key-file do not go together: with --key, that file becomes the agent's key file",
      );
    }
    // Read before anything is registered: a bad --key file changes nothing.
    const key = await readGeneratedKey(opts.key);
    const result = await register(key.publicJwk as unknown as Record<string, unknown>);
    // The key stays in the one file it was generated into, which becomes the agent's key file (a
    // second copy of the private key would be one more file to protect and delete).
    const path = resolve(dir, opts.key);
    await replaceKeyFile(path, {
      agent_id: result.agent.id,
      issuer,
      kid: key.kid,
      private_jwk: key.privateJwk,
    });
    return { ...result, kid: key.kid, key_file: path };
  }
  const pending = await reserveKeyFile(opts.keyFile ?? null, dir);
  const key = await generateAgentKey(opts.alg);
  let result: R;
  try {
    result = await register(key.publicJwk as unknown as Record<string, unknown>);
  } catch (e) {
    await pending.abort();
    throw e;
  }
  const path = resolve(dir, opts.keyFile ?? `${result.agent.id}.key.json`);
  const keyFile = await pending.commit(
    { agent_id: result.agent.id, issuer, kid: key.kid, private_jwk: key.privateJwk },
    path,
  );
  return { ...result, kid: key.kid, key_file: keyFile };
}

/** Reads `--provenance-statement` (a file holding the launcher's JWT) into a provenance body. */
async function provenanceOption(statementFile: string | undefined): Promise<Record<string, unknown>> {
  if (statementFile === undefined) return {};
  const jwt = (await readFile(statementFile, "utf8")).trim();
  return { provenance: { software_statement: jwt } };
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
    ["provenance", provenanceLabel(a.provenance)],
    ...(a.enrollment ? ([["enrollment", a.enrollment]] as const) : []),
    ...(a.ceiling ? ([["ceiling", JSON.stringify(a.ceiling)]] as const) : []),
    ...(a.temporary_until ? ([["temporary_until", `${a.temporary_until} (unclaimed)`]] as const) : []),
    ...(a.claimed_at ? ([["claimed_at", a.claimed_at]] as const) : []),
    ["created_at", a.created_at],
    ...(a.revoked_at
      ? ([["revoked_at", `${a.revoked_at} (${a.revoke_reason ?? "no reason given"})`]] as const)
      : []),
    ...(keys.length > 0 ? ([["keys", keys]] as const) : []),
  ]);
}

/** "verified (iss, code_digest)", "self-asserted" or "none": the label shown wherever an agent is. */
export function provenanceLabel(p: unknown): string {
  const prov = p as
    | { status?: string; verified?: { iss?: string; code_digest?: string | null } | null }
    | null
    | undefined;
  if (prov?.status === "verified" && prov.verified) {
    return `verified by ${prov.verified.iss}${prov.verified.code_digest ? ` (code ${prov.verified.code_digest})` : ""}`;
  }
  return prov?.status === "self_asserted" ? "self-asserted (not verified)" : "none";
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

  withExample(
    withJson(
      agent
        .command("keygen")
        .description(
          "generate an agent key pair before registering: prints its thumbprint for a launcher to bind a statement to",
        )
        .requiredOption("--out <file>", "where to write the private key (mode 0600; never overwritten)")
        .addOption(new Option("--alg <alg>", "key algorithm").choices(["EdDSA", "ES256"]).default("EdDSA")),
    ),
    "deputy agent keygen --out ./ci-43.jwk.json   # prints the kid: the launcher signs cnf: {jkt: <kid>}",
    "deputy agent enroll --code den_… --name ci-43 --key ./ci-43.jwk.json --provenance-statement ./statement.jwt",
  ).action(async (opts: { out: string; alg: string }, cmd: Command) => {
    const key = await generateAgentKey(opts.alg as "EdDSA" | "ES256");
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(opts.out, "wx", 0o600);
    } catch (e) {
      throw new CliError(
        (e as NodeJS.ErrnoException).code === "EEXIST" ? "ERR_KEY_FILE_EXISTS" : "ERR_KEY_FILE",
        `cannot write ${opts.out}: ${(e as Error).message}`,
        "choose another --out; an existing file is never overwritten.",
      );
    }
    try {
      await handle.writeFile(`${JSON.stringify({ kid: key.kid, private_jwk: key.privateJwk }, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const out = { kid: key.kid, key_file: resolve(opts.out), public_jwk: key.publicJwk };
    if (globals(cmd).json) return printJson(out);
    print(
      key.kid,
      `Private key written to ${opts.out} (mode 0600). Its RFC 7638 thumbprint above is the jkt a launcher binds its software statement to (cnf: {jkt}).`,
    );
    note(
      `next: deputy agent enroll --code <den_…> --name <name> --key ${opts.out} --provenance-statement <file>`,
    );
  });

  withExample(
    withJson(
      agent
        .command("enroll")
        .description(
          "register this agent with an enrollment code: generates the key, saves the key file, prints the id",
        )
        .requiredOption("--code <code>", "the enrollment code (den_…) [env DEPUTY_ENROLLMENT_CODE]")
        .requiredOption("--name <name>", "a name for people reading logs")
        .option(
          "--key-file <path>",
          "where to write the private key (default ./<agent id>.key.json, mode 0600)",
        )
        .option("--provenance-statement <file>", "a file holding the launcher's software statement (JWT)")
        .option(
          "--key <file>",
          "register with this key (from `deputy agent keygen`; the file becomes the agent's key file) instead of a new one",
        )
        .addOption(new Option("--alg <alg>", "key algorithm").choices(["EdDSA", "ES256"]).default("EdDSA"))
        .option("-q, --quiet", "print only the new id (for scripts)"),
    ),
    "deputy agent enroll --code den_… --name runner-1",
    'AGENT=$(deputy agent enroll --code "$DEPUTY_ENROLLMENT_CODE" --name ci-42 --key-file ./ci.key.json -q)',
    "deputy agent enroll --code den_… --name ci-43 --key ./ci-43.jwk.json --provenance-statement ./statement.jwt",
  ).action(
    async (
      opts: {
        code: string;
        name: string;
        keyFile?: string;
        key?: string;
        provenanceStatement?: string;
        alg: string;
      },
      cmd: Command,
    ) => {
      const api = await apiFor(cmd);
      const provenance = await provenanceOption(opts.provenanceStatement);
      const out = await registerWithKey(
        api,
        { keyFile: opts.keyFile, alg: opts.alg as "EdDSA" | "ES256", key: opts.key },
        (jwk) =>
          api.post<{ agent: Agent; grant: Record<string, unknown> }>("/v1/agents/enroll", {
            enrollment_code: opts.code,
            name: opts.name,
            jwks: { keys: [jwk] },
            ...provenance,
          }),
      );
      const { json, quiet } = globals(cmd);
      if (json) return printJson(out);
      if (quiet) return print(out.agent.id);
      const file = relative(process.cwd(), out.key_file) || out.key_file;
      print(
        out.agent.id,
        `Enrolled agent ${out.agent.id} (${out.agent.name}) acting for ${out.agent.principal}; provenance: ${provenanceLabel(out.agent.provenance)}.`,
        `Grant ${out.grant.id}: ${(out.grant.scopes as string[]).join(" ")} on ${(out.grant.resources as string[]).join(" ")}. Key file: ${file} (mode 0600).`,
      );
      note(`next: deputy token --key-file ${file}`);
    },
  );

  withExample(
    withJson(
      agent
        .command("temporary")
        .description(
          "get a temporary, sandboxed identity with no account: solves a proof of work, prints the claim URL",
        )
        .option("--name <name>", "a name for people reading logs", "temporary-agent")
        .option(
          "--key-file <path>",
          "where to write the private key (default ./<agent id>.key.json, mode 0600)",
        )
        .addOption(new Option("--alg <alg>", "key algorithm").choices(["EdDSA", "ES256"]).default("EdDSA")),
    ),
    "deputy agent temporary --name scratch",
    "deputy claim <claim URL> --token dpp_…   # a human then claims it within the window",
  ).action(async (opts: { name: string; keyFile?: string; alg: string }, cmd: Command) => {
    const api = await apiFor(cmd);
    const c = await api.get<{ challenge: string; difficulty: number; expires_at: string }>(
      "/v1/agents/temporary/challenge",
    );
    const started = Date.now();
    const progress = (attempts: number) =>
      process.stderr.write(
        `\rsolving proof of work (${c.difficulty} bits): ${attempts.toLocaleString("en")} hashes…`,
      );
    const nonce = solveChallenge(c.challenge, c.difficulty, progress);
    process.stderr.write(
      `\rsolved proof of work (${c.difficulty} bits) in ${Date.now() - started} ms.          \n`,
    );
    const out = await registerWithKey(
      api,
      { keyFile: opts.keyFile, alg: opts.alg as "EdDSA" | "ES256" },
      (jwk) =>
        api.post<{ agent: Agent; claim_url: string; claim_code: string; expires_at: string }>(
          "/v1/agents/temporary",
          {
            name: opts.name,
            jwks: { keys: [jwk] },
            challenge: c.challenge,
            nonce,
          },
        ),
    );
    if (globals(cmd).json) return printJson(out);
    const file = relative(process.cwd(), out.key_file) || out.key_file;
    print(
      out.claim_url,
      `Temporary agent ${out.agent.id} (sandboxed). Key file: ${file} (mode 0600).`,
      `A human claims it before ${out.expires_at} with: deputy claim ${out.claim_code} --token <their principal token>`,
    );
  });
}
