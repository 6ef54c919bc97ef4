/**
 * Conformance tests for {@link AuditTreeStore} and the ledger-facing parts of {@link AuditStore}
 * (`entries`, the resource/decision filters, newest-first pages, time ranges as index ranges).
 *
 * @example
 * describe("audit tree", () => auditTreeTests(() => store));
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AuditRecord, AuditTreeNodeRecord, Store } from "../index.js";
import { auditFields, entryFor, T0 } from "./fixtures.js";

const h = (label: string): Uint8Array => new Uint8Array(createHash("sha256").update(label).digest());
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export function auditTreeTests(s: () => Store): void {
  describe("audit tree", () => {
    it("starts at the empty tree and moves its state under the row lock", async () => {
      const initial = await s().auditTree.state();
      expect(initial.size).toBe(0);
      expect(hex(initial.rootHash)).toBe(EMPTY_ROOT);
      await s().transaction(async (tx) => {
        expect((await tx.auditTree.lockState())?.size).toBe(0);
        await tx.auditTree.setState({ size: 3, rootHash: h("r3"), updatedAt: T0 });
      });
      const after = await s().auditTree.state();
      expect(after).toEqual({ size: 3, rootHash: h("r3"), updatedAt: T0 });
    });

    it("indexes entries by agent and token from where its index ends, within the tree only", async () => {
      for (const agent of ["agt_i", "agt_j", "agt_i", "agt_i"]) {
        const f = auditFields({ actorAgent: agent, tokenId: "tok_i" });
        await s().audit.append(f, entryFor(f));
      }
      const byAgent = async () =>
        (await s().audit.query({ agent: "agt_i" }, { limit: 10, order: "asc" })).items.map((r) => r.index);
      expect(await s().auditTree.indexedSize()).toBe(0);
      await s().transaction(async (tx) => {
        const locked = (await tx.auditTree.lockState())!;
        await tx.auditTree.setState({ ...locked, size: 3 });
      });
      const index = (start: number, end: number) =>
        s().transaction(async (tx) => {
          await tx.auditTree.lockState();
          await tx.auditTree.indexEntries(start, end);
        });
      await expect(index(1, 2)).rejects.toThrow(/index does not end at 1/);
      await expect(index(0, 4)).rejects.toThrow(/the tree not at 4/);
      expect(await s().auditTree.indexedSize()).toBe(0);
      await index(0, 2);
      expect(await s().auditTree.indexedSize()).toBe(2);
      expect(await byAgent()).toEqual([0, 2, 3]);
      await expect(index(0, 3)).rejects.toThrow(/index does not end at 0/);
      await index(2, 3);
      expect(await s().auditTree.indexedSize()).toBe(3);
      expect(await byAgent()).toEqual([0, 2, 3]);
      expect(
        (await s().audit.query({ tokenId: "tok_i" }, { limit: 10, order: "desc" })).items.map((r) => r.index),
      ).toEqual([3, 2, 1, 0]);
    });

    it("serialises concurrent read-modify-write of the state: no lost update, no waiting", async () => {
      const moved = await Promise.all(
        Array.from({ length: 8 }, () =>
          s().transaction(async (tx) => {
            const state = await tx.auditTree.lockState();
            if (!state) return 0; // another transaction holds it: skip, never wait
            await new Promise((r) => setTimeout(r, 5));
            await tx.auditTree.setState({ ...state, size: state.size + 1 });
            return 1;
          }),
        ),
      );
      const wins = moved.reduce<number>((a, b) => a + b, 0);
      expect(wins).toBeGreaterThanOrEqual(1);
      expect((await s().auditTree.state()).size).toBe(wins);
    });

    it("stores nodes idempotently and reads any set of them in one call", async () => {
      const nodes: AuditTreeNodeRecord[] = [];
      for (let level = 0; level < 3; level++) {
        for (let index = 0; index < 600 >> level; index++)
          nodes.push({ level, index, hash: h(`${level}/${index}`) });
      }
      await s().auditTree.putNodes(nodes);
      // Re-inserting (an integrator repeating work) changes nothing, even with other hashes.
      await s().auditTree.putNodes([{ level: 0, index: 5, hash: h("other") }, ...nodes.slice(0, 10)]);
      const ids = nodes.filter((_, i) => i % 3 === 0).map(({ level, index }) => ({ level, index }));
      const got = await s().auditTree.nodes([...ids, { level: 9, index: 0 }]);
      expect(got.size).toBe(ids.length);
      for (const { level, index } of ids)
        expect(hex(got.get(`${level}/${index}`)!)).toBe(hex(h(`${level}/${index}`)));
      expect(hex(got.get("0/0")!)).toBe(hex(h("0/0")));
      expect(got.has("9/0")).toBe(false);
      expect((await s().auditTree.nodes([{ level: 0, index: 5 }])).get("0/5")).toEqual(h("0/5"));
      // A batch of new leaves that also carries a node stored before (on another level) keeps both.
      await s().auditTree.putNodes([{ level: 4, index: 40, hash: h("4/40") }]);
      await s().auditTree.putNodes([
        { level: 0, index: 640, hash: h("0/640") },
        { level: 4, index: 40, hash: h("other") },
      ]);
      const mixed = await s().auditTree.nodes([
        { level: 0, index: 640 },
        { level: 4, index: 40 },
      ]);
      expect([hex(mixed.get("0/640")!), hex(mixed.get("4/40")!)]).toEqual([hex(h("0/640")), hex(h("4/40"))]);
      const leaves = await s().auditTree.leaves(590, 700);
      expect(leaves.map(hex)).toEqual(Array.from({ length: 10 }, (_, i) => hex(h(`0/${590 + i}`))));
      expect(await s().auditTree.leaves(700, 710)).toEqual([]);
    });

    it("keeps the first checkpoint per size and answers the largest", async () => {
      expect(await s().auditTree.latestCheckpoint()).toBeNull();
      await s().auditTree.addCheckpoint({ size: 0, rootHash: h("0"), note: "n0\n", createdAt: T0 });
      await s().auditTree.addCheckpoint({ size: 7, rootHash: h("7"), note: "n7\n", createdAt: T0 + 1 });
      await s().auditTree.addCheckpoint({ size: 7, rootHash: h("x"), note: "fork\n", createdAt: T0 + 2 });
      await s().auditTree.addCheckpoint({ size: 3, rootHash: h("3"), note: "n3\n", createdAt: T0 + 3 });
      expect(await s().auditTree.latestCheckpoint()).toEqual({
        size: 7,
        rootHash: h("7"),
        note: "n7\n",
        createdAt: T0 + 1,
      });
    });

    it("keeps exactly one log key when several processes create one at once", async () => {
      expect(await s().auditTree.logKey()).toBeNull();
      const keys = await Promise.all(
        [1, 2, 3].map((n) =>
          s().auditTree.ensureLogKey({
            name: `log-${n}`,
            publicKey: h(`k${n}`),
            privateKeyEnc: `sealed-${n}`,
            createdAt: T0,
          }),
        ),
      );
      expect(new Set(keys.map((k) => k.name)).size).toBe(1);
      expect(await s().auditTree.logKey()).toEqual(keys[0]);
    });

    it("appends many entries at consecutive indexes, in order", async () => {
      const f = auditFields();
      await s().audit.append(f, entryFor(f));
      const items = Array.from({ length: 450 }, (_, k) =>
        auditFields({ action: `m${k}`, tokenId: k % 2 ? null : `tok_${k}` }),
      );
      const indexes = await s().audit.appendMany(
        items.map((fields) => ({ fields, entry: entryFor(fields) })),
      );
      expect(indexes).toEqual(Array.from({ length: 450 }, (_, k) => k + 1));
      expect(await s().audit.size()).toBe(451);
      expect(await s().audit.get(4)).toEqual({
        ...items[3],
        index: 4,
        entry: JSON.stringify({ index: 4, ...items[3] }),
      });
      expect(await s().audit.append(f, entryFor(f))).toBe(451);
      // Inside a transaction that rolls back, nothing stays, and the head moves back too.
      await expect(
        s().transaction(async (tx) => {
          await tx.audit.appendMany(items.slice(0, 3).map((fields) => ({ fields, entry: entryFor(fields) })));
          throw new Error("abort");
        }),
      ).rejects.toThrow("abort");
      expect(await s().audit.size()).toBe(452);
      expect(await s().audit.appendMany([])).toEqual([]);
      expect(await s().audit.append(f, entryFor(f))).toBe(452);
    });

    it("keeps indexes dense when batches and single appends race", async () => {
      const f = auditFields();
      const batches = await Promise.all(
        Array.from({ length: 8 }, (_, b) =>
          b % 2
            ? s().audit.appendMany(Array.from({ length: 25 }, () => ({ fields: f, entry: entryFor(f) })))
            : s().transaction(async (tx) => [await tx.audit.append(f, entryFor(f))]),
        ),
      );
      const all = batches.flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 4 * 25 + 4 }, (_, i) => i));
      for (const batch of batches) expect(batch).toEqual(batch.map((_, k) => batch[0]! + k));
      expect(await s().audit.size()).toBe(all.length);
    });

    it("reads entries as stored, stopping at the end of the log", async () => {
      for (let i = 0; i < 5; i++) {
        const f = auditFields({ action: `a${i}` });
        await s().audit.append(f, entryFor(f));
      }
      const entries = await s().audit.entries(1, 10);
      expect(entries).toHaveLength(4);
      expect(entries.map((e) => JSON.parse(e).index)).toEqual([1, 2, 3, 4]);
      expect(await s().audit.entries(3, 3)).toEqual([]);
    });

    it("filters by resource and decision, pages newest first, and resolves time ranges", async () => {
      const rows: Array<Omit<AuditRecord, "index" | "entry">> = [
        auditFields({ at: T0, resource: "https://a", decision: "allowed" }),
        auditFields({ at: T0 + 10, resource: null, decision: "denied" }),
        auditFields({ at: T0 + 10, resource: "https://b", decision: "allowed" }),
        auditFields({ at: T0 + 20, resource: "https://a", decision: "denied" }),
        auditFields({ at: T0 + 30, resource: "https://a", decision: "info" }),
      ];
      for (const r of rows) await s().audit.append(r, entryFor(r));
      const idx = async (
        filter: Parameters<Store["audit"]["query"]>[0],
        page: Partial<Parameters<Store["audit"]["query"]>[1]> = {},
      ) => (await s().audit.query(filter, { limit: 100, ...page })).items.map((r) => r.index);
      expect(await idx({ resource: "https://a" })).toEqual([0, 3, 4]);
      expect(await idx({ decision: "denied" })).toEqual([1, 3]);
      expect(await idx({ resource: "https://a", decision: "denied" })).toEqual([3]);
      expect(await idx({}, { order: "desc" })).toEqual([4, 3, 2, 1, 0]);
      expect(await idx({}, { order: "desc", beforeIndex: 3 })).toEqual([2, 1, 0]);
      expect(await idx({}, { afterIndex: 0, beforeIndex: 4 })).toEqual([1, 2, 3]);
      expect(await idx({ since: T0 + 10 })).toEqual([1, 2, 3, 4]);
      expect(await idx({ until: T0 + 10 })).toEqual([0, 1, 2]);
      expect(await idx({ since: T0 + 11, until: T0 + 29 })).toEqual([3]);
      expect(await idx({ since: T0 + 31 })).toEqual([]);
      expect(await idx({ until: T0 - 1 })).toEqual([]);
      expect(await idx({ since: T0 + 10, until: T0 + 30 }, { order: "desc", limit: 2 })).toEqual([4, 3]);
    });
  });
}
