/**
 * A Server-Sent Events parser per the WHATWG HTML standard §9.2.6 ("Interpreting an event
 * stream"): lines end in CRLF, LF or CR; a leading BOM is dropped; `:` starts a comment; `data`
 * lines accumulate; `id` without NUL sets the last event id; `retry` takes ASCII digits only; a
 * blank line dispatches. Lines longer than `maxLineLength` and events whose `data` lines add up to
 * more than `maxEventLength` are errors (a stream that never sends a newline, or never a blank
 * line, must not grow our memory without bound).
 *
 * @example
 * const parser = new SseParser({ onEvent: (e) => console.log(e.type, e.data), onComment: () => {}, onRetry: () => {} });
 * parser.push("event: revocation\ndata: {}\n\n");
 */

/** One dispatched event. */
export interface SseEvent {
  /** The `event` field, "message" when absent. */
  type: string;
  data: string;
  /** The last event id in force when this event was dispatched ("" when none). */
  lastEventId: string;
}

export interface SseHandlers {
  onEvent(event: SseEvent): void;
  onComment?(text: string): void;
  onRetry?(ms: number): void;
}

/** Default bound on one line, in characters (UTF-16 code units): 1 MiB of ASCII. */
export const DEFAULT_SSE_MAX_LINE_LENGTH = 1 << 20;
/** Default bound on one event's `data`, in characters, one more per `data` line: 1 MiB of ASCII. */
export const DEFAULT_SSE_MAX_EVENT_LENGTH = 1 << 20;

export class SseParser {
  readonly #h: SseHandlers;
  readonly #maxLine: number;
  readonly #maxEvent: number;
  #buffer = "";
  #started = false;
  /** A CR ended the previous chunk: an LF at the start of the next one belongs to it. */
  #pendingCr = false;
  #data: string[] = [];
  /** Characters held in `#data`, counting the line break each line adds when joined. */
  #dataLength = 0;
  #type = "";
  #lastEventId = "";

  constructor(
    handlers: SseHandlers,
    maxLineLength = DEFAULT_SSE_MAX_LINE_LENGTH,
    maxEventLength = DEFAULT_SSE_MAX_EVENT_LENGTH,
  ) {
    this.#h = handlers;
    this.#maxLine = maxLineLength;
    this.#maxEvent = maxEventLength;
  }

  /** The last event id seen (what a reconnect sends as `Last-Event-ID`). */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /**
   * Feeds decoded text. Throws when a line or an event exceeds its limit (the stream is then
   * broken: drop it and start over with a new parser).
   *
   * @example
   * for await (const chunk of body.pipeThrough(new TextDecoderStream())) parser.push(chunk);
   */
  push(chunk: string): void {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.#pendingCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(this.#buffer + text.slice(start, i));
      this.#buffer = "";
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else this.#pendingCr = true;
      }
      start = i + 1;
    }
    this.#buffer += text.slice(start);
    if (this.#buffer.length > this.#maxLine)
      throw new Error(`event stream line longer than ${this.#maxLine} characters`);
  }

  #line(line: string): void {
    if (line.length > this.#maxLine)
      throw new Error(`event stream line longer than ${this.#maxLine} characters`);
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) {
      this.#h.onComment?.(line.slice(1).replace(/^ /, ""));
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        // Each line is bounded, but their number is not: without this, one event that never
        // ends (no blank line) could hold any amount of memory.
        this.#dataLength += value.length + 1;
        if (this.#dataLength > this.#maxEvent) {
          this.#data = [];
          this.#dataLength = 0;
          throw new Error(`event stream event longer than ${this.#maxEvent} characters`);
        }
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.#h.onRetry?.(Number.parseInt(value, 10));
        break;
      default:
      // The standard says: ignore unknown fields.
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const type = this.#type;
    this.#data = [];
    this.#dataLength = 0;
    this.#type = "";
    if (data.length === 0) return;
    this.#h.onEvent({
      type: type === "" ? "message" : type,
      data: data.join("\n"),
      lastEventId: this.#lastEventId,
    });
  }
}
