/**
 * The master-key ring on disk and in DEPUTY_MASTER_KEY: backward compatible with a single key,
 * several keys (first active), and atomic rewrites that never lose a key.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { masterKeyId } from "../crypto/master-key-ring.js";
import {
  addMasterKey,
  loadOrCreateMasterKeyRing,
  MasterKeyFileLockedError,
  promoteMasterKey,
} from "./data-dir.js";

const A = Buffer.alloc(32, 1);
const B = Buffer.alloc(32, 2);
const b64 = (k: Buffer) => k.toString("base64");

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "deputy-ring-"));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe("master-key ring loading", () => {
  it("creates a one-key ring (0600) on first start and reads today's single-line file as a ring of one", async () => {
    const ring = await loadOrCreateMasterKeyRing(dir, "");
    expect(ring.ids()).toHaveLength(1);
    expect((await stat(join(dir, "master.key"))).mode & 0o777).toBe(0o600);
    await writeFile(join(dir, "master.key"), `${b64(A)}\n`, { mode: 0o600 });
    expect((await loadOrCreateMasterKeyRing(dir, "")).ids()).toEqual([masterKeyId(A)]);
  });

  it("reads several keys, first active, skipping blank lines and # comments", async () => {
    await writeFile(join(dir, "master.key"), `# rotated 2026-01-01\n${b64(B)}\n\n${b64(A)}\n`, {
      mode: 0o600,
    });
    const ring = await loadOrCreateMasterKeyRing(dir, "");
    expect(ring.ids()).toEqual([masterKeyId(B), masterKeyId(A)]);
    expect(ring.activeId).toBe(masterKeyId(B));
  });

  it("DEPUTY_MASTER_KEY takes a comma-separated ring and wins over the file", async () => {
    await writeFile(join(dir, "master.key"), `${b64(A)}\n`, { mode: 0o600 });
    const ring = await loadOrCreateMasterKeyRing(dir, `${b64(B)}, ${b64(A)}`);
    expect(ring.ids()).toEqual([masterKeyId(B), masterKeyId(A)]);
    expect((await loadOrCreateMasterKeyRing(dir, b64(A))).ids()).toEqual([masterKeyId(A)]);
  });

  it("refuses a wrong-size key, naming its position, and a duplicate", async () => {
    await expect(loadOrCreateMasterKeyRing(dir, `${b64(A)},c2hvcnQ=`)).rejects.toThrowError(
      "DEPUTY_MASTER_KEY: master key 2 must be 32 bytes of base64",
    );
    await expect(loadOrCreateMasterKeyRing(dir, `${b64(A)},${b64(A)}`)).rejects.toThrowError(/twice/);
  });
});

describe("master-key file rotation", () => {
  it("adds a new key in front, keeping every old key, atomically with mode 0600", async () => {
    await writeFile(join(dir, "master.key"), `${b64(A)}\n`, { mode: 0o644 });
    const { added, ids } = await addMasterKey(dir);
    expect(ids).toEqual([added, masterKeyId(A)]);
    expect((await stat(join(dir, "master.key"))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(dir, "master.key"), "utf8")).trim().split("\n")[1]).toBe(b64(A));
    expect((await loadOrCreateMasterKeyRing(dir, "")).ids()).toEqual(ids);
    // No temp file is left behind.
    expect(await readdir(dir)).toEqual(["master.key"]);
  });

  it("--standby adds the key after the active one; promote moves it to the front", async () => {
    await writeFile(join(dir, "master.key"), `${b64(A)}\n`, { mode: 0o600 });
    const { added, ids } = await addMasterKey(dir, { standby: true });
    expect(ids).toEqual([masterKeyId(A), added]);
    expect((await promoteMasterKey(dir, added)).ids).toEqual([added, masterKeyId(A)]);
    expect((await loadOrCreateMasterKeyRing(dir, "")).activeId).toBe(added);
    await expect(promoteMasterKey(dir, "0000000000000000")).rejects.toThrowError(
      /master key 0000000000000000 is not in/,
    );
  });

  it("refuses to rotate a data dir without a master.key", async () => {
    await expect(addMasterKey(dir)).rejects.toThrowError(/master.key does not exist/);
  });

  it("keeps # comments and blank lines in place when it adds or promotes a key", async () => {
    const file = join(dir, "master.key");
    await writeFile(file, `# production ring\n${b64(A)}\n\n# old, drop after 2026-03\n${b64(B)}\n`, {
      mode: 0o600,
    });
    const { added } = await addMasterKey(dir, { standby: true });
    const fresh = (await readFile(file, "utf8")).split("\n")[2]!;
    expect(masterKeyId(Buffer.from(fresh, "base64"))).toBe(added);
    expect(await readFile(file, "utf8")).toBe(
      `# production ring\n${b64(A)}\n${fresh}\n\n# old, drop after 2026-03\n${b64(B)}\n`,
    );
    await promoteMasterKey(dir, masterKeyId(B));
    expect(await readFile(file, "utf8")).toBe(
      `# production ring\n${b64(B)}\n${b64(A)}\n${fresh}\n\n# old, drop after 2026-03\n`,
    );
  });
});

describe("master-key file lock", () => {
  it("rotations at once never lose a key: one runs, the others are refused while the lock is held", async () => {
    await writeFile(join(dir, "master.key"), `${b64(A)}\n`, { mode: 0o600 });
    const results = await Promise.allSettled([addMasterKey(dir), addMasterKey(dir), addMasterKey(dir)]);
    const added = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.added] : []));
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    // Every key a rotation reported is in the file.
    const ring = (await loadOrCreateMasterKeyRing(dir, "")).ids();
    expect(ring).toEqual(expect.arrayContaining(added));
    expect(ring).toHaveLength(added.length + 1);
    expect(added).toHaveLength(1);
    expect(refused).toHaveLength(2);
    for (const e of refused) expect(e).toBeInstanceOf(MasterKeyFileLockedError);
    // The lock is released: the next rotation runs.
    const next = await addMasterKey(dir);
    expect((await loadOrCreateMasterKeyRing(dir, "")).ids()).toEqual([next.added, ...ring]);
    expect(await readdir(dir)).toEqual(["master.key"]);
  });

  it("a lock held by a live process is a clear error naming it and what to do; the ring is unchanged", async () => {
    await writeFile(join(dir, "master.key"), `${b64(A)}\n`, { mode: 0o600 });
    const lock = join(dir, "master.key.lock");
    await writeFile(lock, `${process.pid} ${hostname()}\n`);
    await expect(addMasterKey(dir)).rejects.toThrowError(MasterKeyFileLockedError);
    await expect(promoteMasterKey(dir, masterKeyId(A))).rejects.toThrowError(
      `${lock} is held by process ${process.pid} on ${hostname()}, another \`deputy keys rotate-master\` ` +
        "or `promote-master` editing the master-key ring: wait for it to finish and run this again; " +
        `if no such command is running (it was killed), delete ${lock}`,
    );
    // Another host's lock (a shared data dir) cannot be checked by pid: it is held.
    await writeFile(lock, "1 some-other-host\n");
    await expect(addMasterKey(dir)).rejects.toThrowError(/held by process 1 on some-other-host/);
    expect(await readFile(join(dir, "master.key"), "utf8")).toBe(`${b64(A)}\n`);
  });

  it("a lock left by a process that no longer runs is stale and taken over", async () => {
    await writeFile(join(dir, "master.key"), `${b64(A)}\n`, { mode: 0o600 });
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    await writeFile(join(dir, "master.key.lock"), `${dead} ${hostname()}\n`);
    const { ids } = await addMasterKey(dir);
    expect(ids).toHaveLength(2);
    expect(await readdir(dir)).toEqual(["master.key"]);
  });
});
