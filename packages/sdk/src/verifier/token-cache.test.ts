import { describe, expect, it } from "vitest";
import type { AccessTokenClaims } from "./access-token.js";
import { VerifiedTokenCache } from "./token-cache.js";

const claims = (jti: string) =>
  ({
    iss: "i",
    sub: "prn_1",
    aud: "a",
    client_id: "agt_1",
    act: { sub: "agt_1" },
    scope: "read",
    iat: 0,
    exp: 1,
    jti,
    grant_id: "grt_1",
  }) as AccessTokenClaims;

describe("verified-token cache", () => {
  it("hits only on the exact token: another header or payload with the same signature part misses", () => {
    const cache = new VerifiedTokenCache(10);
    cache.set("h.p.sig", claims("tok_1"), "k1");
    expect(cache.get("h.p.sig")?.jti).toBe("tok_1");
    expect(cache.get("h.q.sig")).toBeUndefined();
    expect(cache.get("x.p.sig")).toBeUndefined();
    expect(cache.get("sig")).toBeUndefined();
    expect(cache.get(".sig")).toBeUndefined();
    // A second token with that signature part takes the slot; the first now misses (never a wrong hit).
    cache.set("h.q.sig", claims("tok_2"), "k1");
    expect(cache.get("h.q.sig")?.jti).toBe("tok_2");
    expect(cache.get("h.p.sig")).toBeUndefined();
    cache.delete("h.p.sig"); // not the token held: nothing happens
    expect(cache.get("h.q.sig")?.jti).toBe("tok_2");
    cache.delete("h.q.sig");
    expect(cache.size).toBe(0);
  });

  it("is bounded (oldest first) and drops the tokens of withdrawn keys", () => {
    const cache = new VerifiedTokenCache(2);
    cache.set("h.p.s1", claims("tok_1"), "k1");
    cache.set("h.p.s2", claims("tok_2"), "k2");
    cache.set("h.p.s3", claims("tok_3"), "k1");
    expect(cache.size).toBe(2);
    expect(cache.get("h.p.s1")).toBeUndefined();
    cache.dropKids(["k1"]);
    expect(cache.get("h.p.s3")).toBeUndefined();
    expect(cache.get("h.p.s2")?.jti).toBe("tok_2");
  });
});
