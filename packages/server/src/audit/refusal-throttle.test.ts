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
      due: [
        { action: "a.refused", source: "ip1", principal: null, suppressed: 3, from: 1_000, until: 11_000 },
      ],
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
      { action: "x", source: OVERFLOW_SOURCE, principal: null, suppressed: 2, from: 0, until: 1_000 },
    ]);
  });

  it("gives the /64s of one IPv6 /48 at most `perPrefix` windows, so one site cannot push others into the overflow", () => {
    const clock = new FakeClock(0);
    const throttle = new RefusalThrottle(clock, { limit: 1, windowMs: 1_000, maxSources: 10, perPrefix: 2 });
    // A /48 spraying refusals from 50 of its /64s: two windows of their own, the rest share the /48's.
    for (let i = 0; i < 50; i++) throttle.admit("x", `2001:db8:1:${i.toString(16)}::/64`);
    // Someone else is still audited one by one, not folded into the overflow.
    expect(throttle.admit("x", "198.51.100.7").record).toBe(true);
    expect(throttle.admit("x", "2001:db8:2:1::/64").record).toBe(true);
    clock.advance(1_000);
    expect(throttle.due()).toEqual([
      { action: "x", source: "2001:db8:1::/48", principal: null, suppressed: 47, from: 0, until: 1_000 },
    ]);
    // Once those windows closed, the /48's /64s get windows of their own again.
    expect(throttle.admit("x", "2001:db8:1:99::/64").record).toBe(true);
    expect(throttle.admit("x", "2001:db8:1:98::/64").record).toBe(true);
    expect(throttle.admit("x", "2001:db8:1:97::/64").record).toBe(true);
    expect(throttle.admit("x", "2001:db8:1:96::/64").record).toBe(false);
  });

  it("names no principal in a summary whose refusals name different ones (or none)", () => {
    const clock = new FakeClock(0);
    const throttle = new RefusalThrottle(clock, { limit: 1, windowMs: 1_000 });
    // One address claiming agents of two principals (unverified claims): whichever comes first
    // must not put the count of the others into its principal's trail.
    throttle.admit("token.refused", "203.0.113.9", "prn_a");
    throttle.admit("token.refused", "203.0.113.9", "prn_a");
    throttle.admit("token.refused", "203.0.113.9", "prn_b");
    throttle.admit("token.refused", "198.51.100.1", "prn_a");
    throttle.admit("token.refused", "198.51.100.1", "prn_a");
    throttle.admit("token.refused", "198.51.100.1", null);
    clock.advance(1_000);
    expect(throttle.due().map((s) => [s.source, s.principal, s.suppressed])).toEqual([
      ["203.0.113.9", null, 2],
      ["198.51.100.1", null, 2],
    ]);
  });

  it("carries the principal its refusals name into the summary (a window of one enrollment's refusals)", () => {
    const clock = new FakeClock(0);
    const throttle = new RefusalThrottle(clock, { limit: 1, windowMs: 1_000 });
    for (let i = 0; i < 3; i++) throttle.admit("agent.enroll_refused", "enrollment:enr_1", "prn_1");
    clock.advance(1_000);
    expect(throttle.due()).toEqual([
      {
        action: "agent.enroll_refused",
        source: "enrollment:enr_1",
        principal: "prn_1",
        suppressed: 2,
        from: 0,
        until: 1_000,
      },
    ]);
  });
});
