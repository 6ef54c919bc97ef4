import { describe, expect, it } from "vitest";
import { formatCheckpoint, parseCheckpoint } from "./checkpoint.js";
import { base64Decode, base64Encode } from "./encoding.js";
import { syncCodeOf, toB64 } from "./test-support/helpers.js";

const root = new Uint8Array(32).map((_, i) => i * 7);
const rootB64 = toB64(root);

describe("checkpoint body (c2sp.org/tlog-checkpoint)", () => {
  it("formats origin, size and base64 root, one per line, each ending in a newline", () => {
    expect(formatCheckpoint({ origin: "deputy.example/audit", size: 64, rootHash: root })).toBe(
      `deputy.example/audit\n64\n${rootB64}\n`,
    );
    expect(formatCheckpoint({ origin: "o", size: 0, rootHash: root, extensions: ["a b", "c"] })).toBe(
      `o\n0\n${rootB64}\na b\nc\n`,
    );
  });

  it("parses what it formats", () => {
    for (const size of [0, 1, 9, 10, 2 ** 53 - 1]) {
      const body = formatCheckpoint({
        origin: "example.com/behind-the-sofa",
        size,
        rootHash: root,
        extensions: ["x"],
      });
      expect(parseCheckpoint(body)).toEqual({
        origin: "example.com/behind-the-sofa",
        size,
        rootHash: root,
        extensions: ["x"],
      });
    }
  });

  it("parses the spec's example body", () => {
    const cp = parseCheckpoint(
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    );
    expect(cp.size).toBe(20852163);
    expect(cp.rootHash).toHaveLength(32);
  });

  it.each([
    ["no final newline", `o\n64\n${rootB64}`],
    ["two lines", "o\n64\n"],
    ["empty origin", `\n64\n${rootB64}\n`],
    ["leading zero", `o\n064\n${rootB64}\n`],
    ["zero padded zero", `o\n00\n${rootB64}\n`],
    ["plus sign", `o\n+64\n${rootB64}\n`],
    ["minus sign", `o\n-1\n${rootB64}\n`],
    ["hex size", `o\n0x40\n${rootB64}\n`],
    ["space in size", `o\n 64\n${rootB64}\n`],
    ["size 2^53", `o\n9007199254740992\n${rootB64}\n`],
    ["non-base64 root", "o\n64\nnot base64!\n"],
    ["unpadded root", `o\n64\n${rootB64.replace(/=+$/, "")}\n`],
    [
      "base64url root",
      `o\n64\n${toB64(new Uint8Array(32).fill(0xfb)).replaceAll("+", "-").replaceAll("/", "_")}\n`,
    ],
    ["non-canonical base64 (trailing bits)", `o\n64\n${rootB64.slice(0, 42)}B=\n`],
    ["31-byte root", `o\n64\n${toB64(root.subarray(1))}\n`],
    ["33-byte root", `o\n64\n${toB64(new Uint8Array(33))}\n`],
    ["empty extension line", `o\n64\n${rootB64}\n\n`],
    ["CRLF", `o\r\n64\r\n${rootB64}\r\n`],
    ["tab in origin", `o\tx\n64\n${rootB64}\n`],
  ])("refuses %s with ERR_AUDIT_MALFORMED_CHECKPOINT", (_, body) => {
    expect(syncCodeOf(() => parseCheckpoint(body))).toBe("ERR_AUDIT_MALFORMED_CHECKPOINT");
  });

  it("refuses to format what it would refuse to parse", () => {
    for (const bad of [
      { origin: "", size: 1, rootHash: root },
      { origin: "a\nb", size: 1, rootHash: root },
      { origin: "o", size: -1, rootHash: root },
      { origin: "o", size: 1.5, rootHash: root },
      { origin: "o", size: 2 ** 53, rootHash: root },
      { origin: "o", size: 1, rootHash: root.subarray(1) },
      { origin: "o", size: 1, rootHash: root, extensions: [""] },
      { origin: "o", size: 1, rootHash: root, extensions: ["x\ny"] },
    ]) {
      expect(syncCodeOf(() => formatCheckpoint(bad))).toBe("ERR_AUDIT_MALFORMED_CHECKPOINT");
    }
  });
});

describe("base64 (RFC 4648 §4, strict)", () => {
  it("matches RFC 4648 §10", () => {
    const cases = ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"];
    cases.forEach((encoded, n) => {
      const bytes = new TextEncoder().encode("foobar".slice(0, n));
      expect(base64Encode(bytes)).toBe(encoded);
      expect(base64Decode(encoded)).toEqual(bytes);
    });
  });

  it("agrees with Buffer on random bytes and refuses everything non-canonical", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = crypto.getRandomValues(new Uint8Array(n));
      expect(base64Encode(bytes)).toBe(Buffer.from(bytes).toString("base64"));
      expect(base64Decode(Buffer.from(bytes).toString("base64"))).toEqual(bytes);
    }
    for (const bad of [
      "Zg",
      "Zg=",
      "Zh==",
      "Zm9=",
      "Z===",
      "====",
      "Zg==Zg==",
      "Zm9v\n",
      " Zm9v",
      "Zm-v",
      "Zm_v",
      "Zé==",
    ]) {
      expect(base64Decode(bad), bad).toBeNull();
    }
  });
});
