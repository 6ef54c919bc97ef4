/**
 * The event stream's memory bound: a reader that stops reading is dropped once the bytes waiting
 * for it pass `maxBuffer`, instead of the server buffering without limit.
 */
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { EventStream } from "./event-stream.js";

/** A response whose socket never takes a byte: everything written stays buffered. */
class StuckResponse extends EventEmitter {
  writableLength = 0;
  writableNeedDrain = false;
  destroyed = false;
  ended = false;
  head: { status: number; headers: Record<string, string> } | null = null;
  writeHead(status: number, headers: Record<string, string>) {
    this.head = { status, headers };
    return this;
  }
  flushHeaders() {}
  write(text: string) {
    this.writableLength += Buffer.byteLength(text);
    this.writableNeedDrain = true;
    return false;
  }
  end() {
    this.ended = true;
  }
  destroy() {
    this.destroyed = true;
    this.emit("close");
  }
}

describe("EventStream", () => {
  it("drops a reader that falls more than maxBuffer bytes behind", () => {
    const res = new StuckResponse();
    const closed: string[] = [];
    const stream = new EventStream(res as unknown as ServerResponse, {
      maxBuffer: 1_000,
      onClose: (reason) => closed.push(reason),
    });
    stream.open();
    expect(res.head).toEqual({
      status: 200,
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "x-accel-buffering": "no",
        connection: "close",
      },
    });
    const frame = `id: 1\nevent: revocation\ndata: ${"x".repeat(90)}\n\n`;
    let writes = 0;
    while (stream.write(frame)) writes++;
    expect(writes).toBeGreaterThan(5);
    expect(res.writableLength).toBeLessThanOrEqual(1_000 + frame.length);
    expect(res.destroyed).toBe(true);
    expect(closed).toEqual(["slow"]);
    expect(stream.write(frame)).toBe(false);
  });

  it("still delivers one event larger than maxBuffer to a reader that keeps up", () => {
    const res = new StuckResponse();
    const stream = new EventStream(res as unknown as ServerResponse, { maxBuffer: 1_000, onClose: () => {} });
    stream.open();
    res.writableLength = 0; // the socket took everything so far
    expect(stream.write(`data: ${"x".repeat(5_000)}\n\n`)).toBe(true);
    res.writableLength = 0; // … and the big event too
    expect(stream.write("data: small\n\n")).toBe(true);
    expect(stream.write(`data: ${"x".repeat(5_000)}\n\n`)).toBe(true);
    expect(res.destroyed).toBe(false);
    // This time the big event is still unsent: the next write finds the reader behind.
    expect(stream.write("data: next\n\n")).toBe(false);
    expect(res.destroyed).toBe(true);
  });

  it("ends (not destroys) the response on server shutdown, once", () => {
    const res = new StuckResponse();
    const closed: string[] = [];
    const stream = new EventStream(res as unknown as ServerResponse, {
      maxBuffer: 1_000,
      onClose: (r) => closed.push(r),
    });
    stream.open();
    stream.finish("server");
    stream.finish("server");
    expect(res.ended).toBe(true);
    expect(res.destroyed).toBe(false);
    expect(closed).toEqual(["server"]);
  });
});
