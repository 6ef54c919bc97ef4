/**
 * `deputy keys …`: the issuer's signing key and the master-key ring.
 *
 * - `rotate`: a new issuer signing key; the retired one stays in the JWKS until every token it
 *   signed has expired.
 * - `rotate-master`, `promote-master`: edit `<data dir>/master.key` on this machine (no server
 *   involved; the file is rewritten atomically under `master.key.lock`, keeps `#` comments and
 *   never loses a key). The server reads the ring at start, so a restart follows.
 * - `rewrap`, `master-status`: ask the running server to re-seal everything under the active
 *   master key, and which master keys the stored values still need (docs/broker.md).
 *
 * @example
 * registerKeys(program);
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { addMasterKey, MasterKeyFileLockedError, promoteMasterKey } from "../../config/data-dir.js";
import { CliError } from "../errors.js";
import { note, print, printFields, printJson } from "../output.js";
import { apiFor, globals, withExample, withJson } from "./shared.js";

interface MasterStatus {
  active_key_id: string;
  ring: string[];
  total: number;
  references: Record<string, number>;
  remaining: number;
  unreadable: Array<{ kind: string; id: string; key_id: string | null }>;
  rewrapped?: number;
}

export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("the issuer's token-signing keys and the master-key ring");
  withExample(
    withJson(keys.command("rotate").description("start signing with a new key (admin)")),
    "deputy keys rotate",
  ).action(async (_opts: unknown, cmd: Command) => {
    const r = await (await apiFor(cmd)).post<Record<string, string | null>>("/v1/keys/rotate", {});
    if (globals(cmd).json) return printJson(r);
    print(`New tokens are signed with key ${r.active_kid}.`);
    if (r.retired_kid) {
      print(`The retired key ${r.retired_kid} stays in the JWKS until ${r.retired_published_until}.`);
    }
  });

  withExample(
    withJson(
      keys
        .command("rotate-master")
        .description(
          "add a new master key to <data dir>/master.key, in front (active after a restart); old keys are kept",
        )
        .option("--data-dir <dir>", "the server's data directory (default: DEPUTY_DATA_DIR or ./.deputy)")
        .option(
          "--standby",
          "add the key after the active one: every replica learns it before any seals with it (then promote-master)",
        ),
    ),
    "deputy keys rotate-master && systemctl restart deputy && deputy keys rewrap",
    "deputy keys rotate-master --standby --data-dir /var/lib/deputy   # several replicas, step 1",
  ).action(async (opts: { dataDir?: string; standby?: boolean }, cmd: Command) => {
    const dir = dataDirOf(opts);
    const { added, ids } = await addMasterKey(dir, { standby: opts.standby === true }).catch(fileError);
    if (globals(cmd).json) return printJson({ added, ring: ids, file: resolve(dir, "master.key") });
    envNote();
    print(`Added master key ${added} to ${resolve(dir, "master.key")} (ring: ${ids.join(", ")}).`);
    if (opts.standby) {
      print(
        "It is a standby key: copy the file to every replica and restart them one by one; then, on each,",
        `\`deputy keys promote-master ${added}\`, restart them one by one again, and run \`deputy keys rewrap\`.`,
      );
    } else {
      print(
        "Restart the server: it then seals with the new key and re-seals the rest in the background",
        "(or run `deputy keys rewrap`). Keep the old keys in the file until `deputy keys master-status`",
        "shows nothing references them.",
      );
    }
  });

  withExample(
    withJson(
      keys
        .command("promote-master")
        .description("make a master key already in <data dir>/master.key the active one (moves it first)")
        .argument("<key-id>", "the key id `rotate-master` printed")
        .option("--data-dir <dir>", "the server's data directory (default: DEPUTY_DATA_DIR or ./.deputy)"),
    ),
    "deputy keys promote-master 3f2a9c01b4e5d6a7 --data-dir /var/lib/deputy",
  ).action(async (keyId: string, opts: { dataDir?: string }, cmd: Command) => {
    const dir = dataDirOf(opts);
    const { ids } = await promoteMasterKey(dir, keyId).catch(fileError);
    if (globals(cmd).json) return printJson({ active: keyId, ring: ids, file: resolve(dir, "master.key") });
    envNote();
    print(`Master key ${keyId} is now first in ${resolve(dir, "master.key")} (ring: ${ids.join(", ")}).`);
    print("Restart the server for it to seal with this key, then run `deputy keys rewrap`.");
  });

  withExample(
    withJson(
      keys
        .command("rewrap")
        .description("re-seal everything the server keeps sealed under its active master key (admin)"),
    ),
    "deputy keys rewrap",
    "deputy keys rewrap --json",
  ).action(async (_opts: unknown, cmd: Command) => {
    const r = await (await apiFor(cmd)).post<MasterStatus>("/v1/master-key/rewrap", {});
    if (globals(cmd).json) return printJson(r);
    print(`Re-sealed ${r.rewrapped ?? 0} value(s) under master key ${r.active_key_id}.`);
    printStatus(r);
  });

  withExample(
    withJson(
      keys
        .command("master-status")
        .description(
          "which master keys the server's stored values still need, and which can be dropped (admin)",
        ),
    ),
    "deputy keys master-status",
  ).action(async (_opts: unknown, cmd: Command) => {
    const r = await (await apiFor(cmd)).get<MasterStatus>("/v1/master-key");
    if (globals(cmd).json) return printJson(r);
    printStatus(r);
  });
}

function printStatus(r: MasterStatus): void {
  printFields([
    ["active key", r.active_key_id],
    ["ring", r.ring],
    ["sealed values", r.total],
    ["still to re-seal", r.remaining],
  ]);
  print(
    "sealed by:",
    ...Object.entries(r.references).map(
      ([id, n]) => `  ${id}  ${n} value(s)${r.ring.includes(id) ? "" : "  NOT IN THE RING"}`,
    ),
  );
  const droppable = r.ring.filter((id) => id !== r.active_key_id && !(id in r.references));
  if (droppable.length > 0) {
    print(
      `Nothing here references ${droppable.join(", ")}: once every replica reports the same, drop it from master.key / DEPUTY_MASTER_KEY and restart.`,
    );
  } else if (r.remaining > 0) {
    print(
      "Older keys are still referenced: run `deputy keys rewrap` (every replica must have the new key first).",
    );
  }
  for (const u of r.unreadable) {
    note(
      `${u.kind} ${u.id} was sealed by master key ${u.key_id ?? "(unknown, before key ids)"}, which is not in the ring: put it back.`,
    );
  }
}

function dataDirOf(opts: { dataDir?: string }): string {
  return opts.dataDir ?? (process.env.DEPUTY_DATA_DIR || ".deputy");
}

function envNote(): void {
  if (process.env.DEPUTY_MASTER_KEY) {
    note(
      "DEPUTY_MASTER_KEY is set: a server started with it ignores master.key; change that variable instead (comma-separated, active first).",
    );
  }
}

function fileError(e: unknown): never {
  if (e instanceof MasterKeyFileLockedError) {
    throw new CliError(
      "ERR_MASTER_KEY_LOCKED",
      e.message,
      "one master-key change at a time: let the other finish, then run this again",
    );
  }
  throw new CliError("ERR_MASTER_KEY_FILE", (e as Error).message, "check --data-dir (or DEPUTY_DATA_DIR)");
}
