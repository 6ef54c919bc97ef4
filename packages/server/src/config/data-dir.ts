/**
 * The data directory's secret files: `master.key` (32 random bytes, base64, mode 0600) and
 * `admin.token` (0600). Created on first start; refused if readable by others.
 *
 * @example
 * const key = await loadOrCreateMasterKey("./.deputy", "");
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

export async function ensureDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Reads the master key from `explicit` (base64) or `<dir>/master.key`, creating it if absent. */
export async function loadOrCreateMasterKey(dir: string, explicit: string): Promise<Buffer> {
  if (explicit) return decodeKey(explicit, "DEPUTY_MASTER_KEY");
  const path = join(dir, "master.key");
  const existing = await readSecretFile(path);
  if (existing !== null) return decodeKey(existing.trim(), path);
  const key = randomBytes(32);
  // `wx`: never overwrite a key another process just created (it would orphan every ciphertext).
  try {
    await writeFile(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      return decodeKey(((await readSecretFile(path)) ?? "").trim(), path);
    }
    throw e;
  }
}

/** Reads a secret file, tightening its mode to 0600 if it was looser. */
export async function readSecretFile(path: string): Promise<string | null> {
  try {
    const s = await stat(path);
    if ((s.mode & 0o077) !== 0) await chmod(path, 0o600);
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

export async function writeSecretFile(path: string, content: string): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
  await chmod(path, 0o600);
}

function decodeKey(b64: string, from: string): Buffer {
  const key = Buffer.from(b64, "base64");
  if (key.length !== 32) throw new Error(`${from}: master key must be 32 bytes of base64`);
  return key;
}
