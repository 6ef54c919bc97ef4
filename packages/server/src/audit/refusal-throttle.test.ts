import { describe, expect, it } from "vitest";
import { FakeClock } from "../clock.js";
import { OVERFLOW_SOURCE, RefusalThrottle } from "./refusal-throttle.js";

describe("RefusalThrottle", () => {
  it("records the first `limit` refusals of a source per window and summarises the rest once, after it closes", () => {
    const clock = new FakeClock(1_000);
    const throttle = new RefusalThrottle(clock, { limit: 2, windowMs: 10_000 });
    const admitted = Array.from({ length: 5 }, () => throttle.admit("a.refused", "ip1").record);
    expect(admitted).toEqual([true, true, false, false, false]);
    expect(throttle.admit("a.refused", "ip2").record).toBe(true);
    expect(throttle.admit("b.refused", "ip1").record).toBe(true);
    clock.advance(9_999);
    expect(throttle.due()).toEqual([]);
    clock.advance(1);
    const next = throttle.admit("a.refused", "ip1");
    expect(next).toEqual({
      record: true,
      due: [{ action: "a.refused", source: "ip1", suppressed: 3, from: 1_000, until: 11_000 }],
    });
    // Each summary once; windows without suppressed refusals close silently.
    expect(throttle.due()).toEqual([]);
  });

  it("bounds memory: beyond maxSources, new sources share one overflow window", () => {
    const clock = new FakeClock(0);
    const throttle = new RefusalThrottle(clock, { limit: 1, windowMs: 1_000, maxSources: 2 });
    for (const ip of ["a", "b", "c", "d", "e"]) throttle.admit("x", ip);
    clock.advance(1_000);
    expect(throttle.due()).toEqual([
      { action: "x", source: OVERFLOW_SOURCE, suppressed: 2, from: 0, until: 1_000 },
    ]);
  });
});
