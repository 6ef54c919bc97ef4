/**
 * Agent key files: `{agent_id, issuer, kid, private_jwk}` as JSON, mode 0600. The private key is
 * generated on this machine and never sent anywhere; an existing file is never overwritten.
 *
 * @example
 * const pending = await reserveKeyFile("./agt_x.key.json");
 * await pending.commit({ agent_id, issuer, kid, private_jwk });
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, link, open, readFile, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { JWK } from "jose";
import { CliError } from "./errors.js";

export interface KeyFile {
  agent_id: string;
  issuer: string;
  kid: string;
  private_jwk: JWK;
}

/** A 0600 temp file next to the destination, written once the agent exists. */
export interface PendingKeyFile {
  /** Writes the key file and moves it to its final path (refusing to replace a file). */
  commit(content: KeyFile, finalPath?: string): Promise<string>;
  /** Removes the temp file (the agent was not created). */
  abort(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function refuseExisting(path: string): CliError {
  return new CliError(
    "ERR_KEY_FILE_EXISTS",
    `${path} already exists`,
    "choose another --key-file; an existing key file is never overwritten.",
  );
}

/**
 * Checks that `path` (if known yet) is free and that its directory is writable, by creating a
 * 0600 temp file there before anything is registered on the server.
 *
 * @example
 * const pending = await reserveKeyFile(opts.keyFile ?? null, process.cwd());
 */
export async function reserveKeyFile(path: string | null, dir: string): Promise<PendingKeyFile> {
  if (path !== null && (await exists(path))) throw refuseExisting(path);
  const tmp = join(
    path === null ? dir : dirname(resolve(path)),
    `.deputy-key-${randomBytes(6).toString("hex")}.tmp`,
  );
  let handle: FileHandle;
  try {
    handle = await open(tmp, "wx", 0o600);
  } catch (e) {
    throw new CliError(
      "ERR_KEY_FILE",
      `cannot write the key file in ${dirname(tmp)}: ${(e as Error).message}`,
    );
  }
  return {
    async commit(content, finalPath = path ?? undefined) {
      if (finalPath === undefined) throw new Error("key file path is unknown");
      try {
        await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        // link() fails if the destination exists: no race can make us overwrite a key file.
        await link(tmp, finalPath);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") {
          throw new CliError(
            "ERR_KEY_FILE_EXISTS",
            `${finalPath} appeared meanwhile; the new key was kept in ${tmp}`,
            `rename ${basename(tmp)} to where you want it.`,
          );
        }
        throw e;
      }
      await unlink(tmp);
      return finalPath;
    },
    async abort() {
      await handle.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    },
  };
}

/**
 * Reads and checks an agent key file.
 *
 * @example
 * const { agent_id, issuer, private_jwk } = await readKeyFile("./agt_x.key.json");
 */
export async function readKeyFile(path: string): Promise<KeyFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new CliError(
      "ERR_KEY_FILE",
      `cannot read ${path}: ${(e as Error).message}`,
      "pass the file `deputy agent create` wrote.",
    );
  }
  let parsed: Partial<KeyFile>;
  try {
    parsed = JSON.parse(text) as Partial<KeyFile>;
  } catch {
    throw new CliError("ERR_KEY_FILE", `${path} is not JSON`);
  }
  const ok =
    typeof parsed.agent_id === "string" &&
    typeof parsed.issuer === "string" &&
    typeof parsed.private_jwk === "object" &&
    parsed.private_jwk !== null &&
    typeof parsed.private_jwk.d === "string";
  if (!ok)
    throw new CliError("ERR_KEY_FILE", `${path} is not an agent key file (agent_id, issuer, private_jwk)`);
  return parsed as KeyFile;
}
