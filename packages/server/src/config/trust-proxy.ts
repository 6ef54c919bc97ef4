/**
 * The `trustProxy` setting: the reverse proxies whose `X-Forwarded-For` Deputy believes, as a
 * comma-separated list of IP addresses and CIDR ranges. Fastify applies it (through proxy-addr);
 * this file only reads and checks it, so a typo stops the server at start instead of silently
 * trusting nobody (or somebody else).
 *
 * @example
 * parseTrustProxy("10.0.0.0/8, 2001:db8::1"); // ["10.0.0.0/8", "2001:db8::1"]
 * parseTrustProxy(""); // [] (trust nobody)
 */
import { isIP } from "node:net";

/**
 * The entries of a `trustProxy` value, trimmed; throws an Error naming the first malformed one.
 * Only addresses as `node:net` reads them and `/prefix` lengths from 1 are accepted: netmasks,
 * zone ids, names (proxy-addr's `loopback`) and /0 are refused, so what an operator writes is what
 * is trusted, and nobody trusts the whole internet by accident.
 */
export function parseTrustProxy(value: string): string[] {
  if (value.trim() === "") return [];
  return value.split(",").map((raw) => {
    const entry = raw.trim();
    if (entry === "") {
      throw new Error(`trustProxy (DEPUTY_TRUST_PROXY): empty entry in ${JSON.stringify(value)}`);
    }
    const [address = "", prefix, ...rest] = entry.split("/");
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    if (family === 0 || address.includes("%") || rest.length > 0) {
      throw new Error(
        `trustProxy (DEPUTY_TRUST_PROXY): ${JSON.stringify(entry)} is not an IP address or CIDR range (such as 10.0.0.7, 10.0.0.0/8 or 2001:db8::/32)`,
      );
    }
    if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits)) {
      throw new Error(
        `trustProxy (DEPUTY_TRUST_PROXY): ${JSON.stringify(entry)} has an invalid prefix length (IPv${family}: 1 to ${bits})`,
      );
    }
    // proxy-addr refuses /0 too; saying why here beats its "invalid range".
    if (prefix !== undefined && Number(prefix) === 0) {
      throw new Error(
        `trustProxy (DEPUTY_TRUST_PROXY): ${JSON.stringify(entry)} would believe X-Forwarded-For from every peer, so any client could choose its own address; list your proxies' addresses`,
      );
    }
    return entry;
  });
}
