/**
 * Per-agent token buckets for the gateway: `rate` tokens per second refill a bucket of `burst`.
 * In memory, per process (each replica limits on its own: documented in docs/broker.md).
 *
 * @example
 * const limiter = new RateLimiter(50, 100);
 * const wait = limiter.take("agt_…", Date.now()); // 0 when allowed, else ms until a token is free
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxAgents = 100_000,
  ) {}

  /** Takes one token for `key`; answers 0 if it had one, else the ms until one is available. */
  take(key: string, now: number): number {
    if (this.rate <= 0) return 0;
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= this.maxAgents) this.#evictFull(now);
      b = { tokens: this.burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.rate) * 1000);
  }

  /** Drops buckets that have refilled completely (they are equivalent to a fresh one). */
  #evictFull(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.#buckets.delete(k);
    }
    if (this.#buckets.size >= this.maxAgents) {
      const first = this.#buckets.keys().next();
      if (first.done !== true) this.#buckets.delete(first.value);
    }
  }
}
