/**
 * The data directory's secret files: `master.key` and `admin.token` (both mode 0600, tightened if
 * looser). Created on first start.
 *
 * `master.key` is a master-key ring: one base64 32-byte key per line, the first active (it seals),
 * the others only open what they sealed before a rotation. Blank lines and `#` comments are
 * ignored (and kept when the CLI rewrites the file). A single-line file, as every earlier version
 * wrote, is a ring of one.
 * `DEPUTY_MASTER_KEY` takes the same ring as a comma-separated list and then wins over the file.
 *
 * @example
 * const ring = await loadOrCreateMasterKeyRing("./.deputy", "");
 * const { added, ids } = await addMasterKey("./.deputy");  // new key first, old keys kept
 */
import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
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
  const missing = `${path} does not exist: start the server once, or check --data-dir`;
  if ((await readSecretFile(path)) === null) throw new Error(missing);
  return withRingLock(path, async () => {
    const existing = await readSecretFile(path);
    if (existing === null) throw new Error(missing);
    const lines = fileLines(existing);
    parseRing(lines, path);
    const fresh = randomBytes(32).toString("base64");
    const first = lines.findIndex(isKeyLine);
    lines.splice(options.standby ? first + 1 : first, 0, fresh);
    await writeRingFile(path, lines);
    return { added: masterKeyId(Buffer.from(fresh, "base64")), ids: parseRing(lines, path).ids() };
  });
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
  const missing = `${path} does not exist: check --data-dir`;
  if ((await readSecretFile(path)) === null) throw new Error(missing);
  return withRingLock(path, async () => {
    const existing = await readSecretFile(path);
    if (existing === null) throw new Error(missing);
    const lines = fileLines(existing);
    const ring = parseRing(lines, path);
    const at = ring.ids().indexOf(keyId);
    if (at < 0) throw new Error(`master key ${keyId} is not in ${path} (it holds ${ring.ids().join(", ")})`);
    // Move the key's own line in front of the first key line; comments stay where they were.
    const keyLineIndexes = lines.flatMap((l, i) => (isKeyLine(l) ? [i] : []));
    const [line] = lines.splice(keyLineIndexes[at]!, 1);
    lines.splice(keyLineIndexes[0]!, 0, line!);
    await writeRingFile(path, lines);
    return { ids: parseRing(lines, path).ids() };
  });
}

/**
 * Thrown when another process holds `master.key.lock`: two rotations at once would each rewrite
 * the ring they read, and the second rename would drop the first one's key.
 */
export class MasterKeyFileLockedError extends Error {
  constructor(
    readonly lockPath: string,
    readonly holder: string,
  ) {
    super(
      `${lockPath} is held by ${holder}, another \`deputy keys rotate-master\` or \`promote-master\` ` +
        `editing the master-key ring: wait for it to finish and run this again; if no such command is ` +
        `running (it was killed), delete ${lockPath}`,
    );
    this.name = "MasterKeyFileLockedError";
  }
}

export function masterKeyPath(dir: string): string {
  return join(dir, "master.key");
}

async function writeRingFile(path: string, lines: string[]): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(tmp, "wx", 0o600);
  try {
    await handle.writeFile(`${lines.join("\n")}\n`);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await handle.close();
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** fsync of a directory, so a rename in it survives a crash; skipped where directories cannot be opened. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => null);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // Some platforms refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    await handle.close();
  }
}

/**
 * Runs `fn` holding `<path>.lock`, created with O_EXCL and holding `<pid> <hostname>`. A lock left
 * by a process on this host that no longer runs is stale and taken over; any other held lock is a
 * {@link MasterKeyFileLockedError} (never a wait: the operator decides).
 */
async function withRingLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  await acquireLock(lock);
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => {});
  }
}

async function acquireLock(lock: string): Promise<void> {
  const me = `${process.pid} ${hostname()}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(lock, "wx", 0o600);
      try {
        await handle.writeFile(`${me}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = await readLockHolder(lock);
    if (holder === null) continue; // released between our create and our read
    if (!isStale(holder)) throw new MasterKeyFileLockedError(lock, describeHolder(holder));
    // Take the stale lock over by renaming it away: of several processes that found it stale, only
    // one renames that file. If what we renamed was a live lock that replaced it meanwhile, put it
    // back (link fails rather than overwrite) and report it as held.
    const moved = `${lock}.${randomBytes(6).toString("hex")}.stale`;
    try {
      await rename(lock, moved);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    const took = await readLockHolder(moved);
    if (took !== null && !isStale(took)) {
      // Put the live lock back. If a third process created a lock meanwhile, leave the moved file
      // for the operator rather than delete a live holder's lock.
      const restored = await link(moved, lock).then(
        () => true,
        () => false,
      );
      if (restored) await unlink(moved).catch(() => {});
      throw new MasterKeyFileLockedError(lock, describeHolder(took));
    }
    await unlink(moved).catch(() => {});
  }
  throw new MasterKeyFileLockedError(lock, "another process");
}

interface LockHolder {
  pid: number | null;
  host: string;
}

async function readLockHolder(lock: string): Promise<LockHolder | null> {
  let text: string;
  try {
    text = await readFile(lock, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const [pid, host] = text.trim().split(" ");
  const n = Number(pid);
  return { pid: Number.isSafeInteger(n) && n > 0 ? n : null, host: host ?? "" };
}

/**
 * Stale only when provably so: the holder ran on this host and its pid no longer exists. A lock
 * without a pid yet (its creator is between create and write) or from another host is held.
 */
function isStale(holder: LockHolder): boolean {
  if (holder.pid === null || holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function describeHolder(holder: LockHolder): string {
  return holder.pid === null
    ? "another process"
    : `process ${holder.pid} on ${holder.host || "unknown host"}`;
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

function isKeyLine(line: string): boolean {
  const l = line.trim();
  return l.length > 0 && !l.startsWith("#");
}

function ringLines(lines: string[]): string[] {
  return lines.filter(isKeyLine).map((l) => l.trim());
}

/** The file's lines as written (comments and blank lines kept), without the final newline's empty line. */
function fileLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
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
