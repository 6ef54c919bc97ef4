import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base32, idPrefix, isId, newId } from "./ids.js";

describe("ids", () => {
  it("carry 128 bits in 26 base32 characters after the prefix", () => {
    const id = newId("agt");
    expect(id).toMatch(/^agt_[a-z2-7]{26}$/);
    expect(isId("agt", id)).toBe(true);
    expect(isId("prn", id)).toBe(false);
    expect(idPrefix(id)).toBe("agt");
    expect(idPrefix("agt_short")).toBeNull();
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
