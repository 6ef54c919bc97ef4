/**
 * The data directory's secret files: `master.key` and `admin.token` (both mode 0600, tightened if
 * looser). Created on first start.
 *
 * `master.key` is a master-key ring: one base64 32-byte key per line, the first active (it seals),
 * the others only open what they sealed before a rotation. Blank lines and `#` comments are
 * ignored. A single-line file, as every earlier version wrote, is a ring of one.
 * `DEPUTY_MASTER_KEY` takes the same ring as a comma-separated list and then wins over the file.
 *
 * @example
 * const ring = await loadOrCreateMasterKeyRing("./.deputy", "");
 * const { added, ids } = await addMasterKey("./.deputy");  // new key first, old keys kept
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MasterKeyRing, masterKeyId } from "../crypto/master-key-ring.js";

export async function ensureDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * Reads the master-key ring from `explicit` (comma-separated base64 keys) or `<dir>/master.key`
 * (one per line), creating the file with one new key if absent.
 */
export async function loadOrCreateMasterKeyRing(dir: string, explicit: string): Promise<MasterKeyRing> {
  if (explicit) return parseRing(explicit.split(","), "DEPUTY_MASTER_KEY");
  const path = masterKeyPath(dir);
  const existing = await readSecretFile(path);
  if (existing !== null) return parseRing(existing.split("\n"), path);
  const key = randomBytes(32);
  // `wx`: never overwrite a key another process just created (it would orphan every ciphertext).
  try {
    await writeFile(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    return MasterKeyRing.from([key]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      return parseRing(((await readSecretFile(path)) ?? "").split("\n"), path);
    }
    throw e;
  }
}

/**
 * Adds a new random key to `<dir>/master.key`, first (active) or, with `standby`, right after the
 * active key (every replica must know a key before any of them seals with it). Every existing key
 * is kept. The file is replaced atomically (temp file with mode 0600, fsync, rename), so a crash
 * leaves either the old ring or the new one, never a truncated file.
 *
 * @example
 * const { added, ids } = await addMasterKey("/var/lib/deputy", { standby: true }); // ids: [old, added]
 */
export async function addMasterKey(
  dir: string,
  options: { standby?: boolean } = {},
): Promise<{ added: string; ids: string[] }> {
  const path = masterKeyPath(dir);
  const existing = await readSecretFile(path);
  if (existing === null)
    throw new Error(`${path} does not exist: start the server once, or check --data-dir`);
  const keys = ringLines(existing.split("\n"));
  parseRing(keys, path);
  const fresh = randomBytes(32).toString("base64");
  const next = options.standby ? [keys[0]!, fresh, ...keys.slice(1)] : [fresh, ...keys];
  await writeRingFile(path, next);
  return { added: masterKeyId(Buffer.from(fresh, "base64")), ids: parseRing(next, path).ids() };
}

/**
 * Moves the key with id `keyId` to the front of `<dir>/master.key` (it becomes the active key).
 * Atomic like {@link addMasterKey}.
 *
 * @example
 * await promoteMasterKey("/var/lib/deputy", "9296c47940d1fe7f"); // { ids: ["9296c47940d1fe7f", …] }
 */
export async function promoteMasterKey(dir: string, keyId: string): Promise<{ ids: string[] }> {
  const path = masterKeyPath(dir);
  const existing = await readSecretFile(path);
  if (existing === null) throw new Error(`${path} does not exist: check --data-dir`);
  const keys = ringLines(existing.split("\n"));
  const ring = parseRing(keys, path);
  const at = ring.ids().indexOf(keyId);
  if (at < 0) throw new Error(`master key ${keyId} is not in ${path} (it holds ${ring.ids().join(", ")})`);
  const next = [keys[at]!, ...keys.filter((_, i) => i !== at)];
  await writeRingFile(path, next);
  return { ids: parseRing(next, path).ids() };
}

export function masterKeyPath(dir: string): string {
  return join(dir, "master.key");
}

async function writeRingFile(path: string, keys: string[]): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(tmp, "wx", 0o600);
  try {
    await handle.writeFile(`${keys.join("\n")}\n`);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await handle.close();
  await chmod(tmp, 0o600);
  await rename(tmp, path);
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

function ringLines(lines: string[]): string[] {
  return lines.map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith("#"));
}

function parseRing(lines: string[], from: string): MasterKeyRing {
  const keys = ringLines(lines).map((b64, i) => {
    const key = Buffer.from(b64, "base64");
    if (key.length !== 32) throw new Error(`${from}: master key ${i + 1} must be 32 bytes of base64`);
    return key;
  });
  if (keys.length === 0) throw new Error(`${from}: no master key`);
  try {
    return MasterKeyRing.from(keys);
  } catch (e) {
    throw new Error(`${from}: ${(e as Error).message}`);
  }
}
