import { describe, expect, it } from "vitest";
import { CompactRange, type CompletedNode } from "./compact-range.js";
import { rootFromLeaves } from "./merkle.js";
import { leaves, syncCodeOf, syncHasher } from "./test-support/helpers.js";
import { rangeNodes } from "./tree.js";

describe("CompactRange", () => {
  const all = leaves(130);

  it("yields MTH at every size 0..130, synchronously with a sync hasher", () => {
    const range = new CompactRange(syncHasher);
    expect(range.root()).toEqual(rootFromLeaves([], syncHasher));
    for (let i = 0; i < all.length; i++) {
      range.append(all[i]!);
      expect(range.size).toBe(i + 1);
      expect(range.root()).toEqual(rootFromLeaves(all.slice(0, i + 1), syncHasher));
      // The right edge: one subtree per set bit of the size.
      expect(range.hashes).toHaveLength((i + 1).toString(2).replaceAll("0", "").length);
    }
  });

  it("reports every perfect node exactly once, with its MTH, as soon as it completes", () => {
    const range = new CompactRange(syncHasher);
    const seen = new Map<string, Uint8Array>();
    for (let i = 0; i < 100; i++) {
      const completed: CompletedNode[] = range.append(all[i]!);
      for (const { node, hash } of completed) {
        const key = `${node.level}/${node.index}`;
        expect(seen.has(key), key).toBe(false);
        seen.set(key, hash);
        // Completed exactly when its last leaf (i) arrives.
        expect((node.index + 1) * 2 ** node.level - 1).toBe(i);
        const start = node.index * 2 ** node.level;
        expect(hash).toEqual(rootFromLeaves(all.slice(start, start + 2 ** node.level), syncHasher));
      }
    }
    // Everything a proof over the first 100 leaves can ask for is there.
    for (let size = 1; size <= 100; size++) {
      for (const node of rangeNodes({ start: 0, end: size }))
        expect(seen.has(`${node.level}/${node.index}`)).toBe(true);
    }
  });

  it("restores from the stored nodes of rangeNodes({start: 0, end: size})", () => {
    const range = new CompactRange(syncHasher);
    const store = new Map<string, Uint8Array>();
    for (let i = 0; i < 77; i++) {
      for (const { node, hash } of range.append(all[i]!)) store.set(`${node.level}/${node.index}`, hash);
    }
    const hashes = rangeNodes({ start: 0, end: 77 }).map((n) => store.get(`${n.level}/${n.index}`)!);
    expect(hashes).toEqual(range.hashes);
    const restored = CompactRange.restore(77, hashes, syncHasher);
    for (let i = 77; i < 130; i++) {
      restored.append(all[i]!);
      range.append(all[i]!);
    }
    expect(restored.root()).toEqual(range.root());
    expect(restored.root()).toEqual(rootFromLeaves(all, syncHasher));
    expect(syncCodeOf(() => CompactRange.restore(77, hashes.slice(1), syncHasher))).toBe(
      "ERR_AUDIT_BAD_RANGE",
    );
    expect(CompactRange.restore(0, [], syncHasher).root()).toEqual(rootFromLeaves([], syncHasher));
  });

  it("works with the default Web Crypto hasher (promises), and refuses overlapping appends", async () => {
    const range = new CompactRange();
    for (let i = 0; i < 21; i++) await range.append(all[i]!);
    expect(await range.root()).toEqual(rootFromLeaves(all.slice(0, 21), syncHasher));
    const pending = range.append(all[21]!);
    expect(() => range.append(all[22]!)).toThrow(/pending/);
    await pending;
    expect(range.size).toBe(22);
  });

  it("is left unchanged when a hash fails", async () => {
    let fail = false;
    const flaky = {
      leaf: (e: Uint8Array) => syncHasher.leaf(e),
      node: async (l: Uint8Array, r: Uint8Array) => {
        if (fail) throw new Error("hash failed");
        return syncHasher.node(l, r);
      },
    };
    const range = new CompactRange(flaky);
    for (let i = 0; i < 7; i++) await range.append(all[i]!);
    fail = true;
    await expect(range.append(all[7]!)).rejects.toThrow("hash failed");
    fail = false;
    expect(range.size).toBe(7);
    expect(await range.root()).toEqual(rootFromLeaves(all.slice(0, 7), syncHasher));
    await range.append(all[7]!);
    expect(await range.root()).toEqual(rootFromLeaves(all.slice(0, 8), syncHasher));
  });

  it("appends 100,000 entries quickly on the sync path", () => {
    const range = new CompactRange(syncHasher);
    const started = performance.now();
    for (let i = 0; i < 100_000; i++)
      range.append(syncHasher.leaf(new Uint8Array([i & 255, i >> 8, i >> 16])));
    range.root();
    // Generous: the point is "no promise per hash", which would take several times longer.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
