import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isStorableText, storableText } from "./text.js";

/** The definition: no U+0000 and no unpaired surrogate. */
function storable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

// Code units biased towards the interesting ones: NUL, high and low surrogates, ASCII.
const unit = fc.oneof(
  fc.constantFrom(0, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0x41),
  fc.integer({ min: 0, max: 0xffff }),
);
const text = fc.array(unit, { maxLength: 12 }).map((units) => String.fromCharCode(...units));

describe("storable text", () => {
  it("isStorableText agrees with the definition for any sequence of code units (property)", () => {
    fc.assert(
      fc.property(text, (s) => isStorableText(s) === storable(s)),
      { numRuns: 5000 },
    );
  });

  it("storableText replaces exactly what is not storable with U+FFFD", () => {
    expect(storableText("a\u0000b\ud800c\udc00d\ud83d\ude00")).toBe("a\ufffdb\ufffdc\ufffdd\ud83d\ude00");
    fc.assert(
      fc.property(text, (s) => storable(storableText(s))),
      { numRuns: 2000 },
    );
  });
});
