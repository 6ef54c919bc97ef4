/**
 * Trusted reverse proxies (`trustProxy`, DEPUTY_TRUST_PROXY) at the wire, on whichever store the
 * run selects (SQLite, or PostgreSQL with DEPUTY_TEST_DATABASE_URL): which address the
 * temporary-agent limit counts and the audit log records as `remote`. Attacks by name:
 * forged-forwarded-for, forwarded-for-prefix, ipv6-hopping-behind-a-proxy, port-hopping-behind-a-proxy.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type TestKey, testKey } from "../test-support/keys.js";
import { PROVISIONING_TEST_SETTINGS, postTemporaryAgent } from "../test-support/provisioning.js";
import { createTestDeputy, expectOk, setupStory, type TestDeputy } from "../test-support/server.js";

let t: TestDeputy;
afterEach(async () => {
  await t?.close();
});

/** One temporary agent per client address and hour, so a second one from the same client is a 429. */
async function deputy(trustProxy: string): Promise<TestDeputy> {
  t = await createTestDeputy({ ...PROVISIONING_TEST_SETTINGS, temporaryAgentsPerHour: 1, trustProxy });
  await setupStory(t);
  return t;
}

let seed = 300;

/** Creates a temporary agent from socket peer `peer`, with `X-Forwarded-For: forwardedFor` if given. */
function temporary(peer: string, forwardedFor?: string, key: TestKey = testKey(seed++)) {
  return postTemporaryAgent(t, key, {
    remoteAddress: peer,
    ...(forwardedFor !== undefined ? { headers: { "x-forwarded-for": forwardedFor } } : {}),
  });
}

const RATE_LIMITED = {
  type: "rate-limited",
  title: "Too many requests",
  status: 429,
  detail: "at most 1 temporary agents per hour from one address",
  code: "ERR_RATE_LIMITED",
  retry_after: 3600,
};

/** The `remote` of every audit entry with this action, oldest first. */
async function remotes(action: string): Promise<string[]> {
  const page = await expectOk(t.api("GET", `/v1/audit/events?action=${action}&limit=100`));
  return page.items.map((i: { entry: { details: { remote: string } } }) => i.entry.details.remote);
}

describe("trustProxy empty (the default): X-Forwarded-For is ignored", () => {
  it("two clients with different forwarded addresses behind one proxy share the proxy's allowance", async () => {
    await deputy("");
    expect((await temporary("10.0.0.2", "198.51.100.1")).statusCode).toBe(201);
    const second = await temporary("10.0.0.2", "198.51.100.2");
    expect(second.statusCode).toBe(429);
    expect(second.json()).toEqual(RATE_LIMITED);
    expect(await remotes("agent.temporary_created")).toEqual(["10.0.0.2"]);
    expect(await remotes("agent.temporary_refused")).toEqual(["10.0.0.2"]);
  });
});

describe("trustProxy listing the proxies", () => {
  it("each client behind a trusted proxy gets its own allowance, counted and audited under its forwarded address", async () => {
    await deputy("10.0.0.0/8");
    expect((await temporary("10.0.0.2", "198.51.100.1")).statusCode).toBe(201);
    // Another proxy of the range, another client.
    expect((await temporary("10.0.0.3", "198.51.100.2")).statusCode).toBe(201);
    // The first client again, through the other proxy: its own allowance is used up.
    const again = await temporary("10.0.0.3", "198.51.100.1");
    expect(again.statusCode).toBe(429);
    expect(again.json()).toEqual(RATE_LIMITED);
    // A dual-stack listener sees the proxy as an IPv4-mapped address; the IPv4 range still matches.
    expect((await temporary("::ffff:10.0.0.2", "198.51.100.3")).statusCode).toBe(201);
    // The proxy itself, with no header, is a client under its own address.
    expect((await temporary("10.0.0.2")).statusCode).toBe(201);
    expect(await remotes("agent.temporary_created")).toEqual([
      "198.51.100.1",
      "198.51.100.2",
      "198.51.100.3",
      "10.0.0.2",
    ]);
    expect(await remotes("agent.temporary_refused")).toEqual(["198.51.100.1"]);
  });

  it("ipv6-hopping-behind-a-proxy: forwarded IPv6 addresses still count by their /64", async () => {
    await deputy("2001:db8:ffff::/48");
    expect((await temporary("2001:db8:ffff::1", "2001:db8:1:2::1")).statusCode).toBe(201);
    const hopped = await temporary("2001:db8:ffff::1", "2001:db8:1:2:ffff:ffff:ffff:fffe");
    expect(hopped.statusCode).toBe(429);
    expect(hopped.json()).toEqual(RATE_LIMITED);
    expect((await temporary("2001:db8:ffff::2", "2001:db8:1:3::1")).statusCode).toBe(201);
    expect(await remotes("agent.temporary_created")).toEqual(["2001:db8:1:2::1", "2001:db8:1:3::1"]);
    expect(await remotes("agent.temporary_refused")).toEqual(["2001:db8:1:2:ffff:ffff:ffff:fffe"]);
  });

  it("port-hopping-behind-a-proxy: a forwarded address with a source port counts without it", async () => {
    await deputy("10.0.0.0/8");
    expect((await temporary("10.0.0.2", "198.51.100.1:4711")).statusCode).toBe(201);
    const hopped = await temporary("10.0.0.2", "198.51.100.1:4712");
    expect(hopped.statusCode).toBe(429);
    expect(hopped.json()).toEqual(RATE_LIMITED);
    expect((await temporary("10.0.0.2", "[2001:db8:1:2::1]:443")).statusCode).toBe(201);
    expect((await temporary("10.0.0.2", "[2001:db8:1:2::2]:443")).statusCode).toBe(429);
    // The audit log keeps what the proxy wrote.
    expect(await remotes("agent.temporary_created")).toEqual(["198.51.100.1:4711", "[2001:db8:1:2::1]:443"]);
  });

  it("forged-forwarded-for: a peer that is not a trusted proxy is counted under its own address, whatever its header says", async () => {
    await deputy("10.0.0.0/8");
    expect((await temporary("203.0.113.5", "198.51.100.1")).statusCode).toBe(201);
    const forged = await temporary("203.0.113.5", "198.51.100.99");
    expect(forged.statusCode).toBe(429);
    expect(forged.json()).toEqual(RATE_LIMITED);
    // A forged header naming a trusted proxy changes nothing either.
    expect((await temporary("203.0.113.5", "198.51.100.7, 10.0.0.2")).statusCode).toBe(429);
    // The client the forger named still has its whole allowance.
    expect((await temporary("10.0.0.2", "198.51.100.1")).statusCode).toBe(201);
    expect(await remotes("agent.temporary_created")).toEqual(["203.0.113.5", "198.51.100.1"]);
    expect(await remotes("agent.temporary_refused")).toEqual(["203.0.113.5", "203.0.113.5"]);
  });

  it("a chain `client, proxy1` through proxy2, both trusted, picks the client", async () => {
    await deputy("10.0.0.0/8, 192.0.2.10");
    expect((await temporary("10.0.0.2", "198.51.100.1, 192.0.2.10")).statusCode).toBe(201);
    const again = await temporary("10.0.0.2", "198.51.100.1, 192.0.2.10");
    expect(again.statusCode).toBe(429);
    expect(again.json()).toEqual(RATE_LIMITED);
    expect(await remotes("agent.temporary_created")).toEqual(["198.51.100.1"]);
  });

  it("forwarded-for-prefix: entries a client put in front of the proxy's are not believed", async () => {
    await deputy("10.0.0.0/8");
    // The client sent `X-Forwarded-For: 192.0.2.1`; the proxy appended the address it saw.
    expect((await temporary("10.0.0.2", "192.0.2.1, 198.51.100.1")).statusCode).toBe(201);
    const hopped = await temporary("10.0.0.2", "192.0.2.2, 198.51.100.1");
    expect(hopped.statusCode).toBe(429);
    expect(hopped.json()).toEqual(RATE_LIMITED);
    // Past an untrusted hop the walk stops, even at an entry that names a trusted proxy.
    expect((await temporary("10.0.0.2", "10.0.0.9, 198.51.100.2")).statusCode).toBe(201);
    expect(await remotes("agent.temporary_created")).toEqual(["198.51.100.1", "198.51.100.2"]);
  });

  it("a refused enrollment is audited under the forwarded client address", async () => {
    await deputy("10.0.0.0/8");
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/agents/enroll",
      remoteAddress: "10.0.0.2",
      headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.1" },
      payload: JSON.stringify({
        enrollment_code: "den_not-a-real-code",
        name: "stray",
        jwks: { keys: [testKey(399).publicJwk] },
      }),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({
      type: "enrollment-code-invalid",
      title: "Unknown enrollment code",
      status: 401,
      detail: "unknown enrollment code",
      code: "ERR_ENROLLMENT_CODE_INVALID",
    });
    expect(await remotes("agent.enroll_refused")).toEqual(["198.51.100.1"]);
  });
});
