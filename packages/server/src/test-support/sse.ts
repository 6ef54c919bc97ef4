/**
 * A minimal Server-Sent Events reader for wire tests: opens a stream with `node:http`, splits it into
 * messages (blocks ending in a blank line, WHATWG HTML §9.2.6) and keeps the raw text too, so
 * tests can assert exact framing.
 *
 * @example
 * const s = await openEventStream(`${url}/v1/revocations/events`, { authorization: basic });
 * const frame = await s.nextMatching((f) => f.startsWith("id: "));
 * await s.close();
 */
import { request } from "node:http";

export interface EventStreamReader {
  status: number;
  headers: Headers;
  /** Every byte received so far, as text. */
  readonly raw: string;
  /** The next complete message block (without its trailing blank line). */
  next(timeoutMs?: number): Promise<string>;
  /** Skips blocks until one satisfies `match`. */
  nextMatching(match: (frame: string) => boolean, timeoutMs?: number): Promise<string>;
  /** True once the server ended the stream. */
  readonly ended: boolean;
  close(): Promise<void>;
}

export async function openEventStream(
  url: string,
  headers: Record<string, string>,
): Promise<EventStreamReader> {
  // node:http with no agent rather than fetch: undici keeps a spare socket open that would make
  // the server under test wait for it on close.
  const res = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    const req = request(url, { headers, agent: false }, resolve);
    req.once("error", reject);
    req.end();
  });
  let raw = "";
  let buffer = "";
  let ended = false;
  const frames: string[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  res.setEncoding("utf8");
  res.on("data", (value: string) => {
    raw += value;
    buffer += value;
    let i = buffer.indexOf("\n\n");
    while (i >= 0) {
      frames.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 2);
      i = buffer.indexOf("\n\n");
    }
    wake();
  });
  const finish = () => {
    ended = true;
    wake();
  };
  res.once("end", finish);
  res.once("close", finish);
  res.once("error", finish);
  const responseHeaders = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (typeof v === "string") responseHeaders.set(k, v);
  }
  const next = async (timeoutMs = 5_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = frames.shift();
      if (f !== undefined) return f;
      if (ended) throw new Error(`event stream ended; received: ${JSON.stringify(raw.slice(-500))}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no event within ${timeoutMs} ms; received: ${JSON.stringify(raw.slice(-500))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  return {
    status: res.statusCode ?? 0,
    headers: responseHeaders,
    get raw() {
      return raw;
    },
    get ended() {
      return ended;
    },
    next,
    async nextMatching(match, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const f = await next(Math.max(1, deadline - Date.now()));
        if (match(f)) return f;
      }
    },
    async close() {
      res.destroy();
    },
  };
}

/** The JSON of a `revocation` message block, or null for comments and other blocks. */
export function eventData(frame: string): Record<string, any> | null {
  const data = frame.split("\n").find((l) => l.startsWith("data: "));
  return data ? JSON.parse(data.slice(6)) : null;
}
