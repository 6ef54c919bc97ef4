import { describe, expect, it } from "vitest";
import type { TokenRecord } from "../types.js";
import { TokenCache } from "./token-cache.js";

const record = (id: string): TokenRecord => ({
  id,
  agentId: "agt_a",
  principalId: "prn_p",
  grantId: "grt_g",
  audience: "https://api.example",
  scope: "read",
  jkt: null,
  statusIdx: 0,
  parentTokenId: null,
  issuedAt: 0,
  expiresAt: 1,
  kid: "k",
  revokedAt: null,
});

describe("token cache", () => {
  it("holds records only while the version they were read at is the database's", async () => {
    let version = 7;
    const cache = new TokenCache(() => version);
    expect(await cache.get("tok_a")).toBeUndefined(); // learns version 7
    cache.put(record("tok_a"), 7);
    expect((await cache.get("tok_a"))?.id).toBe("tok_a");
    version = 9;
    expect(await cache.get("tok_a")).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.put(record("tok_a"), 7); // read before the move: not kept
    expect(await cache.get("tok_a")).toBeUndefined();
    cache.put(record("tok_a"), 9);
    expect(Object.isFrozen(await cache.get("tok_a"))).toBe(true);
  });

  it("reads the version once for every lookup waiting, and again for any lookup made after that read", async () => {
    let reads = 0;
    let version = 1;
    const cache = new TokenCache(() => {
      reads++;
      return version;
    });
    await cache.get("tok_a");
    cache.put(record("tok_a"), 1);
    reads = 0;
    const first = await Promise.all([cache.get("tok_a"), cache.get("tok_a"), cache.get("tok_b")]);
    expect(reads).toBe(1);
    expect(first.map((r) => r?.id)).toEqual(["tok_a", "tok_a", undefined]);
    // A revocation committed now (the version moves): a lookup made after it never answers
    // from before it, even though the previous read was a moment ago.
    version = 2;
    expect(await cache.get("tok_a")).toBeUndefined();
    expect(reads).toBe(2);
  });

  it("counts a version it cannot read (SQLITE_BUSY) as a miss and forgets everything", async () => {
    let busy = false;
    const cache = new TokenCache(() => {
      if (busy) throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
      return 1;
    });
    await cache.get("tok_a");
    cache.put(record("tok_a"), 1);
    busy = true;
    expect(await cache.get("tok_a")).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.put(record("tok_a"), 1); // no version known: not kept
    busy = false;
    expect(await cache.get("tok_a")).toBeUndefined();
  });

  it("drops the oldest record beyond its capacity", async () => {
    const cache = new TokenCache(() => 1, 2);
    await cache.get("tok_a");
    for (const id of ["tok_a", "tok_b", "tok_c"]) cache.put(record(id), 1);
    expect(cache.size).toBe(2);
    expect(await cache.get("tok_a")).toBeUndefined();
    expect((await cache.get("tok_c"))?.id).toBe("tok_c");
  });
});
