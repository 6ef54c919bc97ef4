/**
 * One Server-Sent Events response (WHATWG HTML §9.2) on a raw Node response: writes are flushed
 * as they are made (no compression, no buffering proxy hints), and the bytes waiting for a slow
 * reader are bounded: past `maxBuffer` the connection is dropped rather than let grow, and the
 * client resumes with `Last-Event-ID`.
 *
 * @example
 * const stream = new EventStream(reply.raw, { maxBuffer: 1 << 20, onClose });
 * stream.open();
 * stream.write("id: 1\nevent: revocation\ndata: {}\n\n");
 */
import type { ServerResponse } from "node:http";

export class EventStream {
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: { maxBuffer: number; onClose: (reason: "client" | "slow" | "server") => void },
  ) {
    res.once("close", () => this.finish("client"));
  }

  /** Sends the status line and headers, and the reconnection delay (`retry:` field). */
  open(): void {
    this.res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // Reverse proxies (nginx) otherwise buffer the stream.
      "x-accel-buffering": "no",
      // The stream ends only with the connection; never hand it back to a keep-alive pool, which
      // would also leave a socket that a closing server has to wait for.
      connection: "close",
    });
    this.res.flushHeaders();
    this.write("retry: 1000\n\n");
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes written but not yet taken by the socket. */
  get buffered(): number {
    return this.res.writableLength;
  }

  /**
   * Writes `text`; answers false (and drops the connection) if the reader is too far behind: more
   * than `maxBuffer` bytes of earlier writes still unsent. Checked before writing, so one event
   * larger than the bound still reaches a reader that keeps up (else a large cascade would drop
   * every subscriber, on every resume); memory per stream stays below `maxBuffer` + one event.
   */
  write(text: string): boolean {
    if (this.closed) return false;
    if (this.res.writableLength > this.options.maxBuffer) {
      this.finish("slow");
      return false;
    }
    this.res.write(text);
    return true;
  }

  /** Resolves once the buffered bytes have gone out (or the stream closed). */
  drained(): Promise<void> {
    if (this.closed || this.res.writableLength === 0 || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off("drain", done);
        this.res.off("close", done);
        resolve();
      };
      this.res.once("drain", done);
      this.res.once("close", done);
    });
  }

  /** Ends the response (server shutdown) or destroys it (a slow reader). */
  finish(reason: "client" | "slow" | "server"): void {
    if (this.closed) return;
    this.closed = true;
    if (reason === "server") this.res.end();
    else this.res.destroy();
    this.options.onClose(reason);
  }
}
