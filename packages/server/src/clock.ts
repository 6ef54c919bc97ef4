/**
 * Time source. Production uses the system clock; tests inject a {@link FakeClock} so every
 * expiry, `iat` window and TTL is deterministic.
 *
 * @example
 * const clock = new FakeClock(Date.UTC(2026, 0, 1));
 * clock.advance(301_000); // past a 5-minute token
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export class FakeClock implements Clock {
  constructor(private ms: number) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}

/** Epoch seconds (JWT NumericDate, RFC 7519 §2) from a clock. */
export function nowSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}
