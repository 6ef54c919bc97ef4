/**
 * Conformance: the revocation event log ({@link RevocationEventStore}) and the status-list reads
 * of {@link TokenStore}. The ordering guarantee is tested the way a verifier relies on it: a
 * reader polling `after(lastSeen)` while revocations commit in parallel must see 1, 2, 3, …
 * with no gap and no repeat.
 *
 * @example
 * revocationEventTests(() => store);
 */
import { describe, expect, it } from "vitest";
import type { RevocationCascade, Store } from "../index.js";
import { grant, seedAgent, T0, token, uid } from "./fixtures.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cascade(n: number): RevocationCascade {
  return {
    principals: [],
    agents: [uid("agt")],
    grants: [uid("grt"), uid("grt")],
    tokens: [{ id: uid("tok"), exp: 1_767_225_600 + n }],
  };
}

export function revocationEventTests(s: () => Store): void {
  describe("revocation events", () => {
    it("starts empty", async () => {
      expect(await s().revocationEvents.latestId()).toBe(0);
      expect(await s().revocationEvents.after(0, 10)).toEqual([]);
    });

    it("prunes the events recorded before a time, and keeps numbering after them", async () => {
      const append = (at: number) =>
        s().transaction((tx) =>
          tx.revocationEvents.append({ at, target: uid("agt"), reason: null, cascade: cascade(at) }),
        );
      expect(await s().revocationEvents.prune(T0 + 1_000)).toBe(0); // empty
      for (let i = 0; i < 40; i++) await append(T0 + i * 10);
      expect(await s().revocationEvents.prune(T0)).toBe(0); // nothing is older
      expect(await s().revocationEvents.prune(T0 + 255)).toBe(26); // at T0 … T0 + 250
      expect((await s().revocationEvents.after(0, 100)).map((e) => e.id)).toEqual(
        Array.from({ length: 14 }, (_, i) => 27 + i),
      );
      // A reader resuming from a pruned id gets what is left after it.
      expect((await s().revocationEvents.after(3, 2)).map((e) => e.id)).toEqual([27, 28]);
      expect(await s().revocationEvents.prune(T0 + 255)).toBe(0);
      expect(await append(T0 + 1_000)).toBe(41);
      expect(await s().revocationEvents.prune(T0 + 10_000)).toBe(15);
      expect(await s().revocationEvents.after(0, 100)).toEqual([]);
      expect(await s().revocationEvents.latestId()).toBe(41);
      expect(await append(T0 + 20_000)).toBe(42);
    });

    it("numbers events 1, 2, 3 and reads them back in order, whole", async () => {
      const written = [cascade(1), cascade(2), cascade(3)];
      const ids: number[] = [];
      for (const [i, c] of written.entries()) {
        ids.push(
          await s().transaction((tx) =>
            tx.revocationEvents.append({
              at: T0 + i,
              target: c.agents[0]!,
              reason: i === 1 ? "ünïcode\nline" : null,
              cascade: c,
            }),
          ),
        );
      }
      expect(ids).toEqual([1, 2, 3]);
      expect(await s().revocationEvents.latestId()).toBe(3);
      const all = await s().revocationEvents.after(0, 10);
      expect(all).toEqual(
        written.map((c, i) => ({
          id: i + 1,
          at: T0 + i,
          target: c.agents[0],
          reason: i === 1 ? "ünïcode\nline" : null,
          cascade: c,
        })),
      );
      expect((await s().revocationEvents.after(1, 1)).map((e) => e.id)).toEqual([2]);
      expect(await s().revocationEvents.after(3, 10)).toEqual([]);
    });

    it("gives a rolled-back event's id to the next one (no gap)", async () => {
      await expect(
        s().transaction(async (tx) => {
          await tx.revocationEvents.append({ at: T0, target: "agt_x", reason: null, cascade: cascade(0) });
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(await s().revocationEvents.latestId()).toBe(0);
      const id = await s().transaction((tx) =>
        tx.revocationEvents.append({ at: T0, target: "agt_y", reason: null, cascade: cascade(0) }),
      );
      expect(id).toBe(1);
    });

    it("makes events visible in id order under parallel revocations: a polling reader sees no gap", async () => {
      const N = 24;
      let stop = false;
      const seen: number[] = [];
      const reader = (async () => {
        let last = 0;
        while (!stop || last < N) {
          for (const e of await s().revocationEvents.after(last, 100)) {
            seen.push(e.id);
            last = e.id;
          }
          await sleep(1);
        }
      })();
      // Each transaction waits a little after numbering its event and before COMMIT, so with a
      // sequence-style counter a later id would often commit first.
      const ids = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          s().transaction(async (tx) => {
            const id = await tx.revocationEvents.append({
              at: T0 + i,
              target: `agt_${i}`,
              reason: null,
              cascade: cascade(i),
            });
            await sleep(((i * 7) % 5) * 2);
            return id;
          }),
        ),
      );
      stop = true;
      await reader;
      expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(seen).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    });

    it("watch reports an append (and stops when asked)", async () => {
      let calls = 0;
      const stop = s().revocationEvents.watch(() => calls++, { pollMs: 20 });
      try {
        await sleep(300);
        const before = calls;
        await s().transaction((tx) =>
          tx.revocationEvents.append({ at: T0, target: "agt_w", reason: null, cascade: cascade(0) }),
        );
        const deadline = Date.now() + 3_000;
        while (calls === before && Date.now() < deadline) await sleep(10);
        expect(calls).toBeGreaterThan(before);
      } finally {
        await stop();
      }
    });
  });

  describe("status-list reads", () => {
    it("lists revoked status indexes in a range, ascending", async () => {
      const { grant: g } = await seedAgent(s());
      const ts = [3, 9, 65_535, 65_536, 70_000].map((statusIdx) => token(g, { statusIdx }));
      for (const t of ts) await s().tokens.create(t);
      await s().tokens.create(token(g, { statusIdx: 10 }));
      for (const t of ts) await s().tokens.revoke(t.id, T0 + 1);
      expect(await s().tokens.revokedStatusIndexes(0, 65_536)).toEqual([3, 9, 65_535]);
      expect(await s().tokens.revokedStatusIndexes(65_536, 131_072)).toEqual([65_536, 70_000]);
      expect(await s().tokens.revokedStatusIndexes(131_072, 196_608)).toEqual([]);
    });

    it("counts a token revoked through its grant, whose own row was never rewritten", async () => {
      const { agent: a, grant: g } = await seedAgent(s());
      const other = grant(a);
      await s().grants.create(other);
      const mine = [200_001, 200_005].map((statusIdx) => token(g, { statusIdx }));
      const theirs = token(other, { statusIdx: 200_003 });
      for (const t of [...mine, theirs]) await s().tokens.create(t);
      expect(await s().tokens.revokedStatusIndexes(196_608, 262_144)).toEqual([]);
      await s().grants.revoke([g.id], T0 + 1);
      expect(await s().tokens.revokedStatusIndexes(196_608, 262_144)).toEqual([200_001, 200_005]);
      await s().tokens.revoke(theirs.id, T0 + 2);
      expect(await s().tokens.revokedStatusIndexes(196_608, 262_144)).toEqual([200_001, 200_003, 200_005]);
    });

    it("reports how many status indexes were handed out", async () => {
      expect(await s().tokens.statusIndexHighWater()).toBe(0);
      const block = await s().tokens.reserveStatusIndexes(5);
      expect(await s().tokens.statusIndexHighWater()).toBe(Math.max(...block) + 1);
    });
  });
}
