import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplayCache } from "./replay-cache.js";

describe("DPoP jti replay cache (RFC 9449 §11.1)", () => {
  it("refuses a replay until the proof's window closes, then forgets it", () => {
    const c = new ReplayCache(10);
    expect(c.consume("k:a", 100, 166, 100)).toBe(true);
    expect(c.consume("k:a", 100, 166, 120)).toBe(false);
    expect(c.consume("k:b", 130, 196, 170)).toBe(true); // sweeps k:a (expired at 166)
    expect(c.size).toBe(1);
  });

  it("stays bounded, and a jti evicted early can never be replayed (the iat floor rises)", () => {
    const c = new ReplayCache(3);
    for (let i = 0; i < 5; i++) expect(c.consume(`k:${i}`, 100 + i, 200 + i, 100 + i)).toBe(true);
    expect(c.size).toBe(3);
    expect(c.floorIat).toBe(101);
    expect(c.consume("k:0", 100, 200, 105)).toBe(false);
    expect(c.consume("k:1", 101, 201, 105)).toBe(false);
    expect(c.consume("k:new", 105, 205, 105)).toBe(true);
  });

  it("property: within any window, every key is accepted at most once", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 5 })), {
          maxLength: 200,
        }),
        fc.integer({ min: 1, max: 8 }),
        (ops, max) => {
          const c = new ReplayCache(max);
          const accepted = new Set<string>();
          const iatOf = new Map<number, number>();
          let now = 1000;
          for (const [key, dt] of ops) {
            now += dt;
            // A proof's iat is signed into it: a replay presents the first iat again.
            const iat = iatOf.get(key) ?? now;
            iatOf.set(key, iat);
            // Windows are long (1000 s): nothing expires during the run, so no proof may pass twice.
            if (c.consume(`k:${key}`, iat, iat + 1000, now)) {
              expect(accepted.has(`k:${key}`)).toBe(false);
              accepted.add(`k:${key}`);
            }
            expect(c.size).toBeLessThanOrEqual(max);
          }
        },
      ),
    );
  });
});
