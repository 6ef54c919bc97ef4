/**
 * A fixed-window counter per client address (one hour), in memory: enough to stop one address
 * from minting temporary identities in bulk. Each replica counts on its own; the proof of work
 * is what makes bulk creation expensive across replicas.
 *
 * @example
 * if (!limiter.take(request.ip, now)) throw new DeputyError("ERR_RATE_LIMITED");
 */
export class WindowRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 3_600_000,
  ) {}

  /** Counts one request; false once `limit` were counted in the current window. */
  take(key: string, now: number): boolean {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size > 100_000) this.prune(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= this.limit) return false;
    w.count++;
    return true;
  }

  /** Milliseconds until `key`'s window resets. */
  retryAfter(key: string, now: number): number {
    const w = this.windows.get(key);
    return w ? Math.max(0, w.start + this.windowMs - now) : 0;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}
