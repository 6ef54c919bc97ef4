/**
 * The revocation feed delivers every event once, in id order: a locally committed event that is
 * next in line goes out without a read; anything else (a gap, a read in progress) is read from
 * the log, so nothing is skipped or repeated. Runs on both stores.
 */
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RevocationEventRecord, Store } from "../store/index.js";
import { createTestStore } from "../test-support/store.js";
import { RevocationFeed } from "./revocation-feed.js";

let store: Store;
let cleanup: () => Promise<void>;
let feed: RevocationFeed;
let seen: number[];

beforeEach(async () => {
  ({ store, cleanup } = await createTestStore());
  feed = new RevocationFeed(store, pino({ level: "silent" }), { pollMs: 60_000 });
  seen = [];
  feed.subscribe((e) => seen.push(e.id));
});
afterEach(async () => {
  await feed.stop();
  await cleanup();
});

async function append(n: number): Promise<RevocationEventRecord> {
  const event = {
    at: 1_000 + n,
    target: `agt_${n}`,
    reason: null,
    cascade: { principals: [], agents: [`agt_${n}`], grants: [], tokens: [] },
  };
  const id = await store.transaction((tx) => tx.revocationEvents.append(event));
  return { id, ...event };
}

describe("RevocationFeed", () => {
  it("starts after the newest event: only later ones are delivered", async () => {
    await append(1);
    await feed.start();
    expect(feed.lastId).toBe(1);
    await feed.nudge();
    expect(seen).toEqual([]);
    await append(2);
    await feed.nudge();
    expect(seen).toEqual([2]);
  });

  it("publishes the next event without a read, reads the log on a gap, and never repeats one", async () => {
    // Not started: no watcher (whose LISTEN connection and NOTIFYs would read concurrently); the
    // feed begins at id 0 of this empty log.
    const reads = vi.spyOn(store.revocationEvents, "after");
    const e1 = await append(1);
    await feed.publish(e1);
    expect(seen).toEqual([1]);
    expect(reads).not.toHaveBeenCalled();
    // Event 2 was committed elsewhere and not yet seen: publishing 3 reads 2 and 3 from the log.
    await append(2);
    const e3 = await append(3);
    await feed.publish(e3);
    expect(seen).toEqual([1, 2, 3]);
    expect(reads).toHaveBeenCalled();
    await feed.publish(e1);
    await feed.publish(e3);
    await feed.nudge();
    expect(seen).toEqual([1, 2, 3]);
  });

  it("a read in progress takes the published event in order", async () => {
    await append(1);
    const e2 = await append(2);
    const reading = feed.nudge();
    await feed.publish(e2);
    await reading;
    expect(seen).toEqual([1, 2]);
  });
});
