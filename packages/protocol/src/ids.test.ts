import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base32, idPrefix, isId, newId, newTokenId } from "./ids.js";

describe("ids", () => {
  it("carry 128 bits in 26 base32 characters after the prefix", () => {
    const id = newId("agt");
    expect(id).toMatch(/^agt_[a-z2-7]{26}$/);
    expect(isId("agt", id)).toBe(true);
    expect(isId("prn", id)).toBe(false);
    expect(idPrefix(id)).toBe("agt");
    expect(idPrefix("agt_short")).toBeNull();
  });

  it("never repeat, across the refills of their random pool", () => {
    // 256 ids use one 4 KiB draw; 2,000 cross several refills.
    const ids = Array.from({ length: 2000 }, (_, k) =>
      k % 2 ? newId("grt").slice(4) : newTokenId(1).slice(14),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("token ids carry the minting time in ten letters, then 128 random bits", () => {
    const id = newTokenId(Date.UTC(2026, 10, 29));
    expect(id).toMatch(/^tok_[a-z]{10}[a-z2-7]{26}$/);
    expect(isId("tok", id)).toBe(true);
    expect(idPrefix(id)).toBe("tok");
    // Fixed-width base 26, most significant letter first.
    expect(newTokenId(0).slice(0, 14)).toBe("tok_aaaaaaaaaa");
    expect(newTokenId(27).slice(0, 14)).toBe("tok_aaaaaaaabb");
    expect(newTokenId(26 ** 10 - 1).slice(0, 14)).toBe("tok_zzzzzzzzzz");
    // Random after the time: two ids of the same millisecond differ.
    expect(newTokenId(5)).not.toBe(newTokenId(5));
  });

  it("token ids minted before the time-ordered form stay valid; the form is for tokens only", () => {
    expect(isId("tok", "tok_ds3g6yxy3xlt46ckoykp72qsfy")).toBe(true);
    expect(idPrefix("tok_ds3g6yxy3xlt46ckoykp72qsfy")).toBe("tok");
    const agt = `agt_${newTokenId(0).slice(4)}`;
    expect(isId("agt", agt)).toBe(false);
    expect(idPrefix(agt)).toBeNull();
    // A time part with base32 digits is not the time-ordered form.
    expect(isId("tok", "tok_aipmqufru2ds3g6yxy3xlt46ckoykp72qsfy")).toBe(false);
  });

  it("token ids refuse a time they cannot write in ten letters", () => {
    for (const t of [-1, 26 ** 10, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => newTokenId(t)).toThrow(RangeError);
    }
  });

  it("token ids sort in minting order (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 26 ** 10 - 2 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (t, dt) => {
          const later = Math.min(t + dt, 26 ** 10 - 1);
          return newTokenId(t) < newTokenId(later);
        },
      ),
      { seed: 7 },
    );
  });

  it("base32 matches RFC 4648 §10 test vectors (lowercased, unpadded)", () => {
    const enc = (s: string) => base32(new TextEncoder().encode(s));
    expect(enc("")).toBe("");
    expect(enc("f")).toBe("my");
    expect(enc("fo")).toBe("mzxq");
    expect(enc("foo")).toBe("mzxw6");
    expect(enc("foob")).toBe("mzxw6yq");
    expect(enc("fooba")).toBe("mzxw6ytb");
    expect(enc("foobar")).toBe("mzxw6ytboi");
  });

  it("base32 length is ceil(8n/5)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        (b) => base32(b).length === Math.ceil((b.length * 8) / 5),
      ),
      {
        seed: 1,
      },
    );
  });
});
