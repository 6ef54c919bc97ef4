import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./defaults.js";
import { parseTrustProxy } from "./trust-proxy.js";

const NOT_AN_ADDRESS = (entry: string) =>
  `trustProxy (DEPUTY_TRUST_PROXY): ${JSON.stringify(entry)} is not an IP address or CIDR range (such as 10.0.0.7, 10.0.0.0/8 or 2001:db8::/32)`;

describe("parseTrustProxy", () => {
  it("reads addresses and CIDR ranges of both families, trimmed; empty trusts nobody", () => {
    expect(parseTrustProxy("")).toEqual([]);
    expect(parseTrustProxy("  ")).toEqual([]);
    const entries = parseTrustProxy(
      " 10.0.0.7 ,10.0.0.0/8, 2001:db8::/32,::1, ::ffff:10.0.0.0/104,0.0.0.0/32,128.0.0.0/1,8000::/1,2001:db8::1/128,64:ff9b::192.0.2.1 ",
    );
    expect(entries).toEqual([
      "10.0.0.7",
      "10.0.0.0/8",
      "2001:db8::/32",
      "::1",
      "::ffff:10.0.0.0/104",
      "0.0.0.0/32",
      "128.0.0.0/1",
      "8000::/1",
      "2001:db8::1/128",
      "64:ff9b::192.0.2.1",
    ]);
    // What it accepts, Fastify (proxy-addr) accepts too: the server cannot fail later on it.
    expect(() => Fastify({ trustProxy: entries })).not.toThrow();
  });

  it("names the first malformed entry", () => {
    for (const entry of ["foo", "loopback", "10.0.0.256", "010.0.0.1", "fe80::1%eth0", "10.0.0.0/8/8"]) {
      expect(() => parseTrustProxy(`10.0.0.1,${entry}`), entry).toThrow(NOT_AN_ADDRESS(entry));
    }
    expect(() => parseTrustProxy("10.0.0.0/33")).toThrow(
      'trustProxy (DEPUTY_TRUST_PROXY): "10.0.0.0/33" has an invalid prefix length (IPv4: 1 to 32)',
    );
    expect(() => parseTrustProxy("2001:db8::/129")).toThrow(
      'trustProxy (DEPUTY_TRUST_PROXY): "2001:db8::/129" has an invalid prefix length (IPv6: 1 to 128)',
    );
    for (const entry of ["10.0.0.0/255.0.0.0", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8.5", "10.0.0.0/0x8"]) {
      expect(() => parseTrustProxy(entry), entry).toThrow("has an invalid prefix length");
    }
    expect(() => parseTrustProxy("10.0.0.1,,10.0.0.2")).toThrow(
      'trustProxy (DEPUTY_TRUST_PROXY): empty entry in "10.0.0.1,,10.0.0.2"',
    );
  });

  it("is checked when the settings are read, from the environment or an option", () => {
    expect(resolveConfig({}, {}).trustProxy).toBe("");
    expect(resolveConfig({}, { DEPUTY_TRUST_PROXY: "10.0.0.0/8" }).trustProxy).toBe("10.0.0.0/8");
    expect(() => resolveConfig({}, { DEPUTY_TRUST_PROXY: "10.0.0.0/8,proxy.internal" })).toThrow(
      NOT_AN_ADDRESS("proxy.internal"),
    );
    expect(() => resolveConfig({ trustProxy: "10.0.0.0/33" }, {})).toThrow("invalid prefix length");
  });

  it("refuses a /0 range: it would believe every peer", () => {
    for (const entry of ["0.0.0.0/0", "::/0", "10.0.0.0/00"]) {
      expect(() => parseTrustProxy(`10.0.0.1, ${entry}`), entry).toThrow(
        `trustProxy (DEPUTY_TRUST_PROXY): ${JSON.stringify(entry)} would believe X-Forwarded-For from every peer, so any client could choose its own address; list your proxies' addresses`,
      );
    }
  });
});
