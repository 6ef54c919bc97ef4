/**
 * The revocation event stream client (`GET /v1/revocations/events`, DESIGN §4): Server-Sent
 * Events read from a `fetch` body, resumed with `Last-Event-ID` after any break, reconnected with
 * exponential backoff and full jitter, and dropped when it stalls (no byte — event or `: ping`
 * heartbeat — for `heartbeatTimeoutMs`). A frame that does not parse as a revocation, or one
 * larger than `maxEventLength`, is an error that drops the connection *without* advancing the
 * resume point, so no revocation is skipped.
 *
 * Freshness ({@link RevocationStream.lastFrameAt}) advances only while the stream is live: from
 * the comment that ends a (re)connection's replay, on each whole frame after it. Neither opening a
 * connection nor bytes of a replay do: a stream that reconnects forever because the same event
 * fails each time must not look fresh, or a verifier would trust it for revocations it never got.
 *
 * @example
 * const stream = new RevocationStream({ url, authorization: `Basic ${b64}`, fetch, now: Date.now, onRevocation: (e) => index.apply(e.cascade) });
 * stream.start();
 */
import { DEFAULT_SSE_MAX_LINE_LENGTH, type SseEvent, SseParser } from "./sse.js";

/**
 * Default bound on one revocation event (characters of its `data`): 16 MiB. Deputy sends a
 * revocation's whole cascade as one event, about 45 characters per token, so this carries a
 * revocation of some 350,000 live tokens while still bounding what a hostile stream can make the
 * verifier hold.
 */
export const DEFAULT_REVOCATION_EVENT_LENGTH = 16 << 20;

/** One revocation with everything it cascaded to. */
export interface RevocationEvent {
  id: number;
  at: number;
  target: string;
  reason: string | null;
  cascade: {
    principals: string[];
    agents: string[];
    grants: string[];
    tokens: Array<{ id: string; exp: number }>;
  };
}

/** A background problem with the stream (the verifier reports these through `onError`). */
export class EventStreamError extends Error {
  override readonly name = "EventStreamError";
  constructor(
    readonly code:
      | "ERR_EVENT_STREAM_CONNECT"
      | "ERR_EVENT_STREAM_GARBAGE"
      | "ERR_EVENT_STREAM_EVENT_TOO_LARGE"
      | "ERR_EVENT_STREAM_STALLED"
      | "ERR_EVENT_STREAM_CLOSED",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RevocationStreamOptions {
  url: string;
  /** The `Authorization` header (HTTP Basic as the resource, RFC 6749 §2.3.1). */
  authorization?: string;
  fetch: typeof fetch;
  /** Epoch ms. */
  now: () => number;
  onRevocation: (event: RevocationEvent) => void;
  onError?: (error: EventStreamError) => void;
  /** Default 30 000: three missed 10-second heartbeats. */
  heartbeatTimeoutMs?: number;
  /** First backoff step; the server's `retry:` replaces it. Default 500. */
  initialBackoffMs?: number;
  /** Default 30 000. */
  maxBackoffMs?: number;
  /**
   * Bound on one event's `data` (characters, one more per `data` line): a bigger event is an
   * `ERR_EVENT_STREAM_EVENT_TOO_LARGE` error that drops the connection; since the server replays
   * it on every resumption, the stream stays down (backing off) until the bound is raised. Default
   * 16 MiB ({@link DEFAULT_REVOCATION_EVENT_LENGTH}).
   */
  maxEventLength?: number;
  /** Resume after this id on the first connection. */
  lastEventId?: number;
  /** For tests: a [0, 1) source for the jitter. */
  random?: () => number;
}

const MAX_IDS = 1_000_000;
const isIdList = (v: unknown): v is string[] =>
  Array.isArray(v) &&
  v.length <= MAX_IDS &&
  v.every((s) => typeof s === "string" && s.length > 0 && s.length <= 256);

/**
 * Validates one event's `data` (never trusts its shape).
 *
 * @example
 * const event = parseRevocationEvent('{"id":1,"at":0,"target":"agt_x","reason":null,"cascade":{…}}');
 */
export function parseRevocationEvent(data: string): RevocationEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const e = v as Record<string, unknown>;
  const c = e.cascade as Record<string, unknown> | null | undefined;
  if (!Number.isSafeInteger(e.id) || (e.id as number) < 1) return undefined;
  if (typeof e.target !== "string" || typeof c !== "object" || c === null) return undefined;
  if (!isIdList(c.principals) || !isIdList(c.agents) || !isIdList(c.grants) || !Array.isArray(c.tokens))
    return undefined;
  for (const t of c.tokens as unknown[]) {
    const tok = t as { id?: unknown; exp?: unknown } | null;
    if (typeof tok !== "object" || tok === null || typeof tok.id !== "string" || typeof tok.exp !== "number")
      return undefined;
  }
  return {
    id: e.id as number,
    at: typeof e.at === "number" ? e.at : 0,
    target: e.target,
    reason: typeof e.reason === "string" ? e.reason : null,
    cascade: {
      principals: c.principals,
      agents: c.agents,
      grants: c.grants,
      tokens: (c.tokens as Array<{ id: string; exp: number }>).map((t) => ({ id: t.id, exp: t.exp })),
    },
  };
}

export class RevocationStream {
  readonly #o: RevocationStreamOptions;
  #stopped = true;
  #abort: AbortController | undefined;
  #attempt = 0;
  #backoffMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stallTimer: ReturnType<typeof setInterval> | undefined;
  #lastEventId: number;
  #connected = false;
  /** A response is being read (live or still replaying): what the stall check watches. */
  #reading = false;
  /** Epoch ms of the last byte on the open response (what the stall check watches). */
  #lastByteAt = Number.NEGATIVE_INFINITY;
  /** Epoch ms of the last whole frame while live (how fresh the revocation knowledge is). */
  #lastFrameAt = Number.NEGATIVE_INFINITY;
  #coveredSince = Number.POSITIVE_INFINITY;
  #connects = 0;
  #url: string;

  constructor(options: RevocationStreamOptions) {
    this.#o = options;
    this.#url = options.url;
    this.#backoffMs = options.initialBackoffMs ?? 500;
    this.#lastEventId = options.lastEventId ?? 0;
  }

  /** The id of the last revocation applied (what a reconnect resumes after). */
  get lastEventId(): number {
    return this.#lastEventId;
  }

  /** True while a response is open and has not stalled. */
  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Epoch ms of the last whole frame (event or comment) received while live, that is after the
   * replay of the current connection: the stream is known complete up to then.
   */
  get lastFrameAt(): number {
    return this.#lastFrameAt;
  }

  /** Epoch ms since which every revocation reaches us (first connection; resumption keeps it). */
  get coveredSince(): number {
    return this.#coveredSince;
  }

  /**
   * Changes the URL for the next connection (the verifier learns it from the issuer's metadata).
   *
   * @example
   * stream.setUrl(metadata.revocation_events_endpoint);
   */
  setUrl(url: string): void {
    this.#url = url;
  }

  /** Successful connections so far. */
  get connects(): number {
    return this.#connects;
  }

  /**
   * Connects, and keeps reconnecting until {@link stop}.
   *
   * @example
   * stream.start();
   */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const period = Math.max(10, Math.floor(this.#timeout() / 4));
    this.#stallTimer = setInterval(() => this.#checkStall(), period);
    unref(this.#stallTimer);
    void this.#run();
  }

  /**
   * Closes the connection and stops reconnecting.
   *
   * @example
   * stream.stop();
   */
  stop(): void {
    this.#stopped = true;
    this.#connected = false;
    this.#reading = false;
    this.#abort?.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#stallTimer !== undefined) clearInterval(this.#stallTimer);
  }

  #maxEvent(): number {
    return this.#o.maxEventLength ?? DEFAULT_REVOCATION_EVENT_LENGTH;
  }

  #timeout(): number {
    return this.#o.heartbeatTimeoutMs ?? 30_000;
  }

  #checkStall(): void {
    if (this.#reading && this.#o.now() - this.#lastByteAt > this.#timeout()) {
      this.#fail(
        new EventStreamError("ERR_EVENT_STREAM_STALLED", `no event or heartbeat for ${this.#timeout()} ms`),
      );
    }
  }

  #fail(error: EventStreamError): void {
    this.#connected = false;
    this.#reading = false;
    this.#abort?.abort();
    this.#o.onError?.(error);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const abort = new AbortController();
      this.#abort = abort;
      let gotFrame = false;
      try {
        gotFrame = await this.#connectOnce(abort);
        if (!abort.signal.aborted) {
          this.#o.onError?.(
            new EventStreamError("ERR_EVENT_STREAM_CLOSED", "the server closed the event stream"),
          );
        }
      } catch (e) {
        if (!abort.signal.aborted) {
          this.#o.onError?.(
            e instanceof EventStreamError
              ? e
              : new EventStreamError("ERR_EVENT_STREAM_CONNECT", `event stream: ${(e as Error).message}`, {
                  cause: e,
                }),
          );
        }
      } finally {
        this.#connected = false;
        this.#reading = false;
        abort.abort();
      }
      if (this.#stopped) return;
      if (gotFrame) this.#attempt = 0;
      // Exponential backoff with full jitter (a thundering herd of verifiers spreads out).
      const cap = Math.min(
        this.#o.maxBackoffMs ?? 30_000,
        this.#backoffMs * 2 ** Math.min(this.#attempt, 16),
      );
      this.#attempt++;
      const delay = Math.floor((this.#o.random ?? Math.random)() * cap);
      await new Promise<void>((resolve) => {
        this.#timer = setTimeout(resolve, delay);
        unref(this.#timer);
      });
    }
  }

  /** One connection; true when it delivered at least one frame. */
  async #connectOnce(abort: AbortController): Promise<boolean> {
    const headers: Record<string, string> = { accept: "text/event-stream", "cache-control": "no-cache" };
    if (this.#o.authorization !== undefined) headers.authorization = this.#o.authorization;
    if (this.#lastEventId > 0) headers["last-event-id"] = String(this.#lastEventId);
    const res = await this.#o.fetch(this.#url, { headers, signal: abort.signal });
    if (
      res.status !== 200 ||
      !(res.headers.get("content-type") ?? "").toLowerCase().startsWith("text/event-stream")
    ) {
      await res.body?.cancel().catch(() => undefined);
      throw new EventStreamError(
        "ERR_EVENT_STREAM_CONNECT",
        `event stream answered HTTP ${res.status} ${res.headers.get("content-type") ?? ""}`,
      );
    }
    if (!res.body) throw new EventStreamError("ERR_EVENT_STREAM_CONNECT", "event stream has no body");
    // Not live yet: a resumed stream first replays what was missed. The server marks the end of
    // that replay with a comment (`: ping`), and only from then does the stream vouch for
    // revocations; until then the status list decides.
    this.#reading = true;
    this.#connects++;
    this.#lastByteAt = this.#o.now();
    if (this.#coveredSince === Number.POSITIVE_INFINITY) this.#coveredSince = this.#lastByteAt;
    let gotFrame = false;
    let garbage: EventStreamError | undefined;
    const parser = new SseParser(
      {
        onEvent: (e) => {
          if (garbage) return;
          garbage = this.#onEvent(e);
          gotFrame = true;
          if (!garbage && this.#connected) this.#lastFrameAt = this.#o.now();
        },
        onComment: () => {
          gotFrame = true;
          this.#connected = true;
          this.#lastFrameAt = this.#o.now();
        },
        onRetry: (ms) => {
          this.#backoffMs = Math.max(100, Math.min(ms, this.#o.maxBackoffMs ?? 30_000));
        },
      },
      // The server sends an event as one `data:` line, so a larger event allowance needs longer lines too.
      Math.max(DEFAULT_SSE_MAX_LINE_LENGTH, this.#maxEvent() + 64),
      this.#maxEvent(),
    );
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || abort.signal.aborted) return gotFrame;
        this.#lastByteAt = this.#o.now();
        try {
          parser.push(value);
        } catch (e) {
          // The parser throws only on its bounds; a line cannot outgrow them without the event doing so.
          garbage = new EventStreamError(
            "ERR_EVENT_STREAM_EVENT_TOO_LARGE",
            `${(e as Error).message}: a revocation event beyond maxEventLength (${this.#maxEvent()} characters) ` +
              "cannot be applied, and the server replays it on every reconnection; until maxEventLength is " +
              "raised the stream stays down and status lists decide (failing closed past maxStalenessMs)",
            { cause: e },
          );
        }
        if (garbage) throw garbage;
      }
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  /** Applies one event; answers an error when the frame is garbage. */
  #onEvent(e: SseEvent): EventStreamError | undefined {
    if (e.type !== "revocation") return undefined;
    const event = parseRevocationEvent(e.data);
    if (!event || (e.lastEventId !== "" && e.lastEventId !== String(event.id))) {
      return new EventStreamError(
        "ERR_EVENT_STREAM_GARBAGE",
        "a revocation event that does not parse; reconnecting",
      );
    }
    if (event.id <= this.#lastEventId) return undefined; // a replay of one already applied
    this.#o.onRevocation(event);
    this.#lastEventId = event.id;
    return undefined;
  }
}

function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
