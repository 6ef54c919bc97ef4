import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBase64url, encodeBase64url, isCanonicalBase64url } from "./base64url.js";

describe("base64url", () => {
  it("decodes canonical input and refuses padding, bad characters and set trailing bits", () => {
    expect(decodeBase64url("AQID")).toEqual(Buffer.from([1, 2, 3]));
    expect(decodeBase64url("_w")).toEqual(Buffer.from([0xff]));
    expect(decodeBase64url("")).toEqual(Buffer.alloc(0));
    expect(decodeBase64url("AQI=")).toBeUndefined();
    expect(decodeBase64url("AQ+/")).toBeUndefined();
    expect(decodeBase64url("A")).toBeUndefined();
    expect(decodeBase64url("AR")).toBeUndefined();
    expect(decodeBase64url("AQL")).toBeUndefined();
    expect(isCanonicalBase64url("AQI")).toBe(true);
  });

  it("encodes strings as UTF-8", () => {
    expect(encodeBase64url("é")).toBe("w6k");
  });

  it("round-trips any bytes, and every encoding is canonical", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const s = encodeBase64url(bytes);
        expect(isCanonicalBase64url(s)).toBe(true);
        expect(decodeBase64url(s)).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it("accepts exactly one string per byte sequence", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{0,12}$/), (s) => {
        const decoded = decodeBase64url(s);
        if (decoded !== undefined) expect(encodeBase64url(decoded)).toBe(s);
      }),
    );
  });
});
