/**
 * draft-ietf-oauth-status-list §4.1 example vector: statuses 1,0,0,1,1,1,0,1,1,1,0,0,0,1,0,1
 * pack to bytes 0xB9 0xA3 and encode (ZLIB, best compression) to `eNrbuRgAAhcBXQ`.
 */
import { describe, expect, it } from "vitest";
import { encodeStatusList, parseListNumber, statusBits } from "./status-list.js";

describe("status list encoding", () => {
  it("packs bits least significant first and encodes the draft's example", () => {
    const bytes = statusBits(16, 0, [0, 3, 4, 5, 7, 8, 9, 13, 15]);
    expect([...bytes]).toEqual([0xb9, 0xa3]);
    expect(encodeStatusList(bytes)).toBe("eNrbuRgAAhcBXQ");
  });

  it("ignores indexes outside the list and honours the offset", () => {
    expect([...statusBits(16, 16, [3, 16, 31, 32])]).toEqual([0x01, 0x80]);
  });

  it("parses list numbers strictly", () => {
    expect(parseListNumber("0")).toBe(0);
    expect(parseListNumber("42")).toBe(42);
    for (const bad of ["", "01", "-1", "1.0", " 1", "1e2", "9999999999"]) {
      expect(() => parseListNumber(bad), bad).toThrow("non-negative integer");
    }
  });
});
