/**
 * Keeps an unauthenticated flood from growing the audit log without bound. Refusals that no
 * authenticated caller stands behind (an unknown enrollment code, a bad proof-of-work challenge, a
 * rate-limited registration, a failed client authentication, a missing or bad bearer token) are
 * counted per source (the action and the client address): the first `limit` of a source in each
 * `windowMs` are audited one by one, the rest only counted, and once the window has closed one
 * `audit.refusals_suppressed` entry records how many were left out. Authenticated decisions never
 * pass through here.
 *
 * Windows are fixed (they start at a source's first refusal) and read from the injected clock, so
 * what is recorded is deterministic. At most `maxSources` windows are tracked; refusals from
 * further sources share one overflow window (source `*`), so memory is bounded too.
 *
 * An IPv6 source is a /64 (`clientAddressKey`), but one site commonly holds a whole /48 (RFC 6177):
 * 65,536 /64s, enough to fill every window and push everyone else's refusals into the overflow
 * summary. So at most `perPrefix` /64s of one /48 get windows of their own per action; further
 * ones share their /48's window (source `2001:db8:1::/48`).
 *
 * @example
 * const throttle = new RefusalThrottle(clock, { limit: 20, windowMs: 60_000 });
 * throttle.admit("agent.enroll_refused", "203.0.113.9"); // { record: true, due: [] } (×20), then record: false
 * clock.advance(60_000);
 * throttle.due(); // [{ action: "agent.enroll_refused", source: "203.0.113.9", suppressed: 5, … }]
 */
import type { Clock } from "../clock.js";

export interface RefusalThrottleOptions {
  /** Refusals of one source audited individually per window (at least 1). */
  limit: number;
  /** Window length in milliseconds. */
  windowMs: number;
  /** Most sources tracked at once; beyond, refusals share the `*` window. */
  maxSources?: number;
  /** Most IPv6 /64 sources of one /48 with a window of their own, per action. */
  perPrefix?: number;
}

/** One closed window with refusals left out of the log. */
export interface RefusalSummary {
  action: string;
  source: string;
  /** The principal every refusal of the window names (a real enrollment's), else null. */
  principal: string | null;
  suppressed: number;
  /** Epoch ms: the window's first refusal. */
  from: number;
  /** Epoch ms: the window's end. */
  until: number;
}

interface Window {
  action: string;
  source: string;
  principal: string | null;
  start: number;
  recorded: number;
  suppressed: number;
}

export const OVERFLOW_SOURCE = "*";

export class RefusalThrottle {
  readonly #clock: Clock;
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxSources: number;
  readonly #perPrefix: number;
  /** Windows open per (action, /48) for /64 sources (see the module docs). */
  readonly #prefixWindows = new Map<string, number>();
  /** In order of window start: each window is inserted when it opens and deleted when it closes. */
  readonly #windows = new Map<string, Window>();

  constructor(clock: Clock, options: RefusalThrottleOptions) {
    this.#clock = clock;
    this.#limit = Math.max(1, Math.floor(options.limit));
    this.#windowMs = options.windowMs;
    this.#maxSources = options.maxSources ?? 10_000;
    this.#perPrefix = Math.max(1, Math.floor(options.perPrefix ?? 16));
  }

  /**
   * Counts one refusal: `record` says whether to audit it; `due` holds the summaries of windows
   * that closed before now (each returned once), to be audited first.
   */
  admit(
    action: string,
    source: string,
    principal: string | null = null,
  ): { record: boolean; due: RefusalSummary[] } {
    const now = this.#clock.now();
    const due = this.due(now);
    let w = this.#windows.get(key(action, source));
    if (!w) {
      let src = source;
      const wide = prefix48(source);
      if (wide !== null && (this.#prefixWindows.get(key(action, wide)) ?? 0) >= this.#perPrefix) src = wide;
      if (this.#windows.size >= this.#maxSources) src = OVERFLOW_SOURCE;
      w = this.#windows.get(key(action, src));
      if (!w) {
        w = {
          action,
          source: src,
          principal: src === source ? principal : null,
          start: now,
          recorded: 0,
          suppressed: 0,
        };
        this.#windows.set(key(action, src), w);
        if (src === source && wide !== null) this.#countPrefix(key(action, wide), 1);
      }
    }
    // A summary lands in the trail of the principal its refusals name only if they all name it:
    // refusals from one address may claim agents of different principals (unverified claims at
    // the token endpoint), and the first must not decide whose trail the count of the rest is in.
    if (w.principal !== principal) w.principal = null;
    if (w.recorded < this.#limit) {
      w.recorded++;
      return { record: true, due };
    }
    w.suppressed++;
    return { record: false, due };
  }

  #countPrefix(k: string, delta: number): void {
    const n = (this.#prefixWindows.get(k) ?? 0) + delta;
    if (n > 0) this.#prefixWindows.set(k, n);
    else this.#prefixWindows.delete(k);
  }

  /** Summaries of the windows closed by `now` that left refusals out; forgets those windows. */
  due(now: number = this.#clock.now()): RefusalSummary[] {
    const out: RefusalSummary[] = [];
    for (const [k, w] of this.#windows) {
      if (w.start + this.#windowMs > now) break;
      this.#windows.delete(k);
      const wide = prefix48(w.source);
      if (wide !== null) this.#countPrefix(key(w.action, wide), -1);
      if (w.suppressed > 0) {
        out.push({
          action: w.action,
          source: w.source,
          principal: w.principal,
          suppressed: w.suppressed,
          from: w.start,
          until: w.start + this.#windowMs,
        });
      }
    }
    return out;
  }
}

/** The /48 of an IPv6 /64 source key (`2001:db8:1:2::/64` → `2001:db8:1::/48`), else null. */
function prefix48(source: string): string | null {
  if (!source.endsWith("::/64")) return null;
  const groups = source.slice(0, -5).split(":");
  return groups.length === 4 ? `${groups.slice(0, 3).join(":")}::/48` : null;
}

function key(action: string, source: string): string {
  return `${action}\u0000${source}`;
}
