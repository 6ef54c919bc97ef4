import { describe, expect, it } from "vitest";
import { hashEntry } from "./hasher.js";
import { LeafCache } from "./leaf-cache.js";

const hex = (leaves: Uint8Array[]) => leaves.map((l) => Buffer.from(l).toString("hex"));

describe("leaf cache", () => {
  it("answers the leaves from a start index up to the first one it does not hold", () => {
    const cache = new LeafCache(100);
    cache.offer([3, 4], ["c", "d"]);
    cache.offer([6], ["f"]);
    expect(hex(cache.prefix(3, 10))).toEqual(hex([hashEntry("c"), hashEntry("d")]));
    expect(hex(cache.prefix(4, 5))).toEqual(hex([hashEntry("d")]));
    expect(cache.prefix(2, 10)).toEqual([]);
    expect(hex(cache.prefix(6, 7))).toEqual(hex([hashEntry("f")]));
  });

  it("never holds an entry whose stored bytes could differ from its UTF-8 (U+0000, lone surrogates)", () => {
    const cache = new LeafCache(100);
    cache.offer([0, 1, 2], ["a\u0000", "b\ud800", "c"]);
    expect(cache.prefix(0, 3)).toEqual([]);
    expect(cache.prefix(1, 3)).toEqual([]);
    expect(hex(cache.prefix(2, 3))).toEqual(hex([hashEntry("c")]));
  });

  it("forgets integrated leaves, and an entry `capacity` later takes the slot of an older one", () => {
    const cache = new LeafCache(4);
    cache.offer([0, 1, 2], ["a", "b", "c"]);
    cache.forgetBelow(2);
    expect(cache.size).toBe(1);
    expect(cache.prefix(0, 3)).toEqual([]);
    cache.offer([3, 4, 5, 6], ["d", "e", "f", "g"]); // 6 takes the slot of 2
    expect(cache.size).toBe(4);
    expect(cache.prefix(2, 7)).toEqual([]);
    expect(hex(cache.prefix(3, 7))).toEqual(hex(["d", "e", "f", "g"].map((e) => hashEntry(e))));
  });

  it("answers copies, unchanged when later offers overwrite their slots", () => {
    const cache = new LeafCache(2);
    cache.offer([0, 1], ["a", "b"]);
    const before = cache.prefix(0, 2);
    cache.offer([2, 3], ["c", "d"]);
    expect(hex(before)).toEqual(hex([hashEntry("a"), hashEntry("b")]));
    expect(cache.prefix(0, 2)).toEqual([]);
    expect(cache.size).toBe(2);
  });

  it("drops a held leaf when an unstorable entry is offered for its index again", () => {
    const cache = new LeafCache(4);
    cache.offer([1], ["a"]);
    cache.offer([1], ["a\u0000"]);
    expect(cache.size).toBe(0);
    expect(cache.prefix(1, 2)).toEqual([]);
  });
});
