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
  it("holds records only while the version they were read at is the database's", () => {
    let version = 7;
    const cache = new TokenCache(() => version);
    expect(cache.get("tok_a")).toBeUndefined(); // learns version 7
    cache.put(record("tok_a"), 7);
    expect(cache.get("tok_a")?.id).toBe("tok_a");
    version = 9;
    expect(cache.get("tok_a")).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.put(record("tok_a"), 7); // read before the move: not kept
    expect(cache.get("tok_a")).toBeUndefined();
    cache.put(record("tok_a"), 9);
    expect(Object.isFrozen(cache.get("tok_a"))).toBe(true);
  });

  it("counts a version it cannot read (SQLITE_BUSY) as a miss and forgets everything", () => {
    let busy = false;
    const cache = new TokenCache(() => {
      if (busy) throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
      return 1;
    });
    cache.get("tok_a");
    cache.put(record("tok_a"), 1);
    busy = true;
    expect(cache.get("tok_a")).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.put(record("tok_a"), 1); // no version known: not kept
    busy = false;
    expect(cache.get("tok_a")).toBeUndefined();
  });

  it("drops the oldest record beyond its capacity", () => {
    const cache = new TokenCache(() => 1, 2);
    cache.get("tok_a");
    for (const id of ["tok_a", "tok_b", "tok_c"]) cache.put(record(id), 1);
    expect(cache.size).toBe(2);
    expect(cache.get("tok_a")).toBeUndefined();
    expect(cache.get("tok_c")?.id).toBe("tok_c");
  });
});
