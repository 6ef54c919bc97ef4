import { isIPv6 } from "node:net";

/**
 * The key one client address is counted under: an IPv4 address as it is (also when the socket
 * reports it IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address by its /64 prefix. One host (one
 * customer of an ISP or a cloud) gets a whole /64 (RFC 6177), so counting each of its 2^64
 * addresses on its own would let it step around any per-address limit.
 *
 * A port is dropped (`203.0.113.9:4711`, `[2001:db8::7]:443`): some load balancers append the
 * client's address to `X-Forwarded-For` with its source port, and a key per port would give every
 * connection a fresh allowance behind a trusted proxy.
 *
 * @example
 * clientAddressKey("2001:db8:1:2::7"); // "2001:db8:1:2::/64"
 * clientAddressKey("::ffff:203.0.113.9"); // "203.0.113.9"
 * clientAddressKey("203.0.113.9:4711"); // "203.0.113.9"
 */
export function clientAddressKey(address: string): string {
  const unported =
    /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(address)?.[1] ??
    /^\[([^\]]+)\](?::\d+)?$/.exec(address)?.[1] ??
    address;
  const a = (unported.split("%")[0] ?? "").toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!isIPv6(a)) return a;
  const [head = "", tail = ""] = a.split("::");
  const groups = head === "" ? [] : head.split(":");
  if (a.includes("::")) {
    const tailGroups = tail === "" ? [] : tail.split(":");
    // A dotted IPv4 tail stands for two groups.
    const tailLength = tailGroups.length + (tail.includes(".") ? 1 : 0);
    groups.push(...Array<string>(8 - groups.length - tailLength).fill("0"), ...tailGroups);
  }
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/**
 * A fixed-window counter per client address (one hour), in memory: enough to stop one address
 * from minting temporary identities in bulk. Each replica counts on its own; the proof of work
 * is what makes bulk creation expensive across replicas.
 *
 * @example
 * if (!limiter.take(clientAddressKey(request.ip), now)) throw new DeputyError("ERR_RATE_LIMITED");
 */
export class WindowRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 3_600_000,
  ) {}

  /** Whether {@link take} would count one more request now (counts nothing). */
  allows(key: string, now: number): boolean {
    const w = this.windows.get(key);
    return !w || now - w.start >= this.windowMs || w.count < this.limit;
  }

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
