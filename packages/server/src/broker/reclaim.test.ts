import { describe, expect, it } from "vitest";
import { RECLAIM_EVERY_BYTES, StreamReclaimer } from "./reclaim.js";

describe("StreamReclaimer", () => {
  it("collects once per RECLAIM_EVERY_BYTES streamed, counted across calls", () => {
    let runs = 0;
    const r = new StreamReclaimer(() => runs++);
    const chunk = 65536;
    for (let sent = 0; sent < 10 * RECLAIM_EVERY_BYTES; sent += chunk) r.note(chunk);
    expect(runs).toBe(10);
    r.note(RECLAIM_EVERY_BYTES - 1);
    expect(runs).toBe(10);
    r.note(1);
    expect(runs).toBe(11);
  });

  it("does nothing without a collector (a process started without --expose-gc)", () => {
    const r = new StreamReclaimer(null, 1);
    expect(() => r.note(1 << 30)).not.toThrow();
  });
});
