/**
 * The WAL checkpointer: once the WAL has grown past its threshold, a worker thread copies it back
 * into the database file (the connection's own automatic checkpoint, which runs inside a COMMIT on
 * the event loop, is moved out of the way), and stopping it waits for the thread.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { auditFields } from "./conformance/fixtures.js";
import { openSqliteStore } from "./sqlite.js";
import { AUTOCHECKPOINT_PAGES, BACKSTOP_PAGES, WalCheckpointer } from "./sqlite-checkpointer.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "deputy-checkpointer-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A WAL-mode connection with the store's automatic checkpoint threshold. */
function openWal(path: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(path);
  db.pragma("journal_mode = WAL");
  db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  return db;
}

/** About 4 MB of WAL in 1,000 rows. */
function fill(db: BetterSqlite3.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)");
  const insert = db.prepare("INSERT INTO t (v) VALUES (randomblob(4000))");
  for (let i = 0; i < 1000; i++) insert.run();
}

/** A checkpointer that starts at 1 MB of WAL and looks every 10 ms (the tests' timescale). */
function quickCheckpointer(
  path: string,
  db: BetterSqlite3.Database,
  idleMs: number,
  onError?: (error: Error) => void,
): WalCheckpointer {
  return new WalCheckpointer(path, db, { startAtBytes: 1024 * 1024, intervalMs: 10, idleMs }, onError);
}

describe("WAL checkpointer", () => {
  it("starts past its threshold, checkpoints from its thread, and stops", async () => {
    const path = join(dir, "db.sqlite");
    const db = openWal(path);
    const checkpointer = quickCheckpointer(path, db, 60_000);
    try {
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
      await new Promise((r) => setTimeout(r, 50));
      expect(checkpointer.running).toBe(false); // a few KB of WAL: below the threshold
      const before = statSync(path).size;
      fill(db); // ~4 MB: far below the connection's own 10,000-page checkpoint
      await vi.waitFor(() => expect(checkpointer.running).toBe(true), { timeout: 5000 });
      expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(BACKSTOP_PAGES);
      // The pages reached the database file: only the thread can have copied them there.
      await vi.waitFor(() => expect(statSync(path).size).toBeGreaterThan(before + 3_000_000), {
        timeout: 5000,
      });
      await checkpointer.stop();
      expect(checkpointer.running).toBe(false);
      expect(db.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 1000 });
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it("ends its thread when nothing is written for idleMs, and starts again when the WAL grows", async () => {
    const path = join(dir, "idle.sqlite");
    const db = openWal(path);
    const checkpointer = quickCheckpointer(path, db, 50);
    try {
      fill(db);
      await vi.waitFor(() => expect(checkpointer.running).toBe(true), { timeout: 5000 });
      await vi.waitFor(() => expect(checkpointer.running).toBe(false), { timeout: 5000 });
      // At rest the connection checkpoints on its own again, and the WAL file was emptied, so the
      // thread does not come back until the WAL has grown again.
      expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(AUTOCHECKPOINT_PAGES);
      expect(statSync(`${path}-wal`).size).toBe(0);
      await new Promise((r) => setTimeout(r, 100));
      expect(checkpointer.running).toBe(false);
      fill(db);
      await vi.waitFor(() => expect(checkpointer.running).toBe(true), { timeout: 5000 });
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it("tells onError once when its thread fails, and leaves checkpoints to the connection again", async () => {
    const path = join(dir, "gone.sqlite");
    const db = openWal(path);
    const errors: Error[] = [];
    const checkpointer = quickCheckpointer(path, db, 60_000, (error) => errors.push(error));
    try {
      fill(db);
      // The connection keeps its open file; the thread, opening the path, finds nothing there.
      rmSync(path);
      await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 5000 });
      expect(checkpointer.running).toBe(false);
      expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(AUTOCHECKPOINT_PAGES);
      await new Promise((r) => setTimeout(r, 100));
      expect(errors).toHaveLength(1); // not started again
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it("a store closes promptly while its checkpointer runs, and reopens with every row", async () => {
    const path = join(dir, "deputy.db");
    const store = await openSqliteStore({ path, checkpointer: { startAtBytes: 1, intervalMs: 10 } });
    const fields = auditFields({ action: "x" });
    for (let i = 0; i < 20; i++) {
      await store.audit.appendMany(
        Array.from({ length: 200 }, () => ({
          fields,
          entry: { head: `{"pad":"${"p".repeat(500)}","index":`, tail: "}" },
        })),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
    await store.close();
    const again = await openSqliteStore({ path, checkpointer: false });
    expect(await again.audit.size()).toBe(4000);
    await again.close();
  });
});
