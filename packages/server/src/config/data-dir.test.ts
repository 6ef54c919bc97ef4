/**
 * The master-key ring on disk and in DEPUTY_MASTER_KEY: backward compatible with a single key,
 * several keys (first active), and atomic rewrites that never lose a key.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { masterKeyId } from "../crypto/master-key-ring.js";
import { addMasterKey, loadOrCreateMasterKeyRing, promoteMasterKey } from "./data-dir.js";

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
});
