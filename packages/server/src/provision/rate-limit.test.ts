import { describe, expect, it } from "vitest";
import { clientAddressKey } from "./rate-limit.js";

describe("clientAddressKey", () => {
  it("keeps IPv4 addresses, unwraps IPv4-mapped ones, and counts IPv6 by /64", () => {
    expect(clientAddressKey("203.0.113.9")).toBe("203.0.113.9");
    expect(clientAddressKey("::ffff:203.0.113.9")).toBe("203.0.113.9");
    expect(clientAddressKey("::FFFF:203.0.113.9")).toBe("203.0.113.9");
    expect(clientAddressKey("2001:db8:1:2::7")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("2001:0db8:0001:0002:ffff:1:2:3")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("2001:DB8:1:2:a:b:c:d%eth0")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientAddressKey("2001:db8::1:2:3:4:5")).toBe("2001:db8:0:1::/64");
    expect(clientAddressKey("::1")).toBe("0:0:0:0::/64");
    expect(clientAddressKey("::")).toBe("0:0:0:0::/64");
    expect(clientAddressKey("64:ff9b::192.0.2.33")).toBe("64:ff9b:0:0::/64");
    expect(clientAddressKey("2001:db8:1::5:192.0.2.33")).toBe("2001:db8:1:0::/64");
  });

  it("drops a port, as some load balancers write one into X-Forwarded-For", () => {
    expect(clientAddressKey("203.0.113.9:4711")).toBe("203.0.113.9");
    expect(clientAddressKey("[2001:db8:1:2::7]:443")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("[2001:db8:1:2::7]")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("[::ffff:203.0.113.9]:80")).toBe("203.0.113.9");
  });
});
