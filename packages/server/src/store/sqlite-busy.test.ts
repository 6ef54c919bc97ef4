/**
 * Two connections to one SQLite file (as `deputy serve --workers 2` has): a writer waiting for the
 * other's write lock must wait without blocking its event loop, get the lock once it is released,
 * and fail with SQLITE_BUSY (not hang) when it never is.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../clock.js";
import { createDeputy } from "../serve.js";
import { injectApi, T0, TEST_ADMIN_TOKEN, TEST_ISSUER } from "../test-support/server.js";
import type { Store } from "./index.js";
import { openSqliteStore } from "./sqlite.js";

const dirs: string[] = [];
const stores: Store[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function twoConnections(busyWaitMs?: number): Promise<[Store, Store]> {
  const dir = mkdtempSync(join(tmpdir(), "deputy-busy-"));
  dirs.push(dir);
  const path = join(dir, "deputy.db");
  const first = await openSqliteStore({ path });
  const second = await openSqliteStore({ path, migrate: false, busyWaitMs });
  stores.push(first, second);
  return [first, second];
}

/** Holds `store`'s write lock (an open transaction that wrote) until the returned release runs. */
async function holdWriteLock(store: Store): Promise<{ release: () => void; done: Promise<void> }> {
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => {
    locked = r;
  });
  const done = store.transaction(async (tx) => {
    await tx.settings.setIfAbsent("holder", "first");
    locked();
    await held;
  });
  await isLocked;
  return { release, done };
}

describe("SQLite lock waits across connections", () => {
  it("waits for another connection's write lock without blocking the event loop, then writes", async () => {
    const [first, second] = await twoConnections();
    const { release, done } = await holdWriteLock(first);

    const started = Date.now();
    const waiting = second.transaction((tx) => tx.settings.setIfAbsent("waiter", "second"));
    // The event loop still runs while the second connection waits: this timer fires on time and
    // lets the first connection commit. (SQLite's own busy handler slept inside the call, so the
    // timer, and with it the release, came only after busy_timeout had expired.)
    const timerFiredAfter = await new Promise<number>((resolve) =>
      setTimeout(() => {
        resolve(Date.now() - started);
        release();
      }, 20),
    );
    expect(timerFiredAfter).toBeLessThan(1000);
    await done;
    await expect(waiting).resolves.toBe("second");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await first.settings.get("waiter")).toBe("second");
  });

  it("fails with SQLITE_BUSY once the wait is over, and the connection stays usable", async () => {
    const [first, second] = await twoConnections(100);
    const { release, done } = await holdWriteLock(first);
    const started = Date.now();
    await expect(
      second.transaction((tx) => tx.settings.setIfAbsent("waiter", "second")),
    ).rejects.toMatchObject({
      code: "SQLITE_BUSY",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(Date.now() - started).toBeLessThan(2000);
    release();
    await done;
    await expect(second.transaction((tx) => tx.settings.setIfAbsent("waiter", "again"))).resolves.toBe(
      "again",
    );
  });

  it("an autocommitted write outside a transaction waits the same way", async () => {
    const [first, second] = await twoConnections();
    const { release, done } = await holdWriteLock(first);
    const started = Date.now();
    const write = second.settings.setIfAbsent("outside", "yes");
    setTimeout(release, 20);
    await done;
    await expect(write).resolves.toBe("yes");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("a request that cannot get the lock in time answers 503 problem+json and changes nothing", async () => {
    const [first, second] = await twoConnections(100);
    const { app } = await createDeputy({
      dataDir: dirs[0]!,
      issuer: TEST_ISSUER,
      adminToken: TEST_ADMIN_TOKEN,
      masterKey: Buffer.alloc(32, 7).toString("base64"),
      store: second,
      clock: new FakeClock(T0),
      logger: pino({ level: "silent" }),
      env: {},
    });
    await app.ready();
    try {
      const api = injectApi(app);
      const before = (await api("GET", "/v1/principals")).json().items.length;
      const { release, done } = await holdWriteLock(first);
      const r = await api("POST", "/v1/principals", { type: "human", name: "Ada" });
      release();
      await done;
      expect(r.statusCode).toBe(503);
      expect(r.headers["content-type"]).toContain("application/problem+json");
      expect(r.json()).toEqual({
        type: "unavailable",
        title: "Temporarily unavailable",
        status: 503,
        detail:
          "the database stayed locked by another process (another deputy worker or command writing to the same file) and the request did not complete: retry in a few seconds",
        code: "ERR_UNAVAILABLE",
      });
      expect((await api("GET", "/v1/principals")).json().items.length).toBe(before);
    } finally {
      await app.close();
    }
  });
});
