import { createPrivateKey, createPublicKey, createSecretKey, sign } from "node:crypto";
import { compactVerify } from "jose";
import { describe, expect, it } from "vitest";
import { JwsFormatError, parseCompactJws, signCompactJws, verifyJwsSignature } from "./jws.js";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** RFC 8032 §7.1 test 1 seed = RFC 8037 Appendix A.1 `d`. */
const edPrivate = createPrivateKey({
  key: Buffer.concat([
    PKCS8_ED25519_PREFIX,
    Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"),
  ]),
  format: "der",
  type: "pkcs8",
});
const edPublic = createPublicKey(edPrivate);
/** Fixed P-256 test key (generated once; the RFC 7515 A.3 `d` does not match its x, y). */
const P256_JWK = {
  kty: "EC",
  crv: "P-256",
  x: "qLA_NQNzjaU505VGPhtRhB0keg8SEfjPPmzVX2sOk8g",
  y: "nyJSUQWjzsPxdEAAVZWua3s3jem67_kPHQK9GuhTi_E",
  d: "tchCym5xhR2CMU2P269HxO-ttLKP5r27124bw7wa8GY",
};
const ecPrivate = createPrivateKey({ key: P256_JWK, format: "jwk" });
/** RFC 7515 Appendix A.3 public key. */
const rfcEcPublic = createPublicKey({
  key: {
    kty: "EC",
    crv: "P-256",
    x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
  },
  format: "jwk",
});
const ecPublic = createPublicKey(ecPrivate);

/** RFC 8037 Appendix A.4 (payload is not JSON, so it is checked below parseCompactJws). */
const RFC8037_A4 =
  "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
/** RFC 7515 Appendix A.3 ES256 JWS. */
const RFC7515_A3 =
  "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

function b64(json: unknown): string {
  return Buffer.from(JSON.stringify(json)).toString("base64url");
}

function formatReason(token: string, maxLength?: number): string {
  try {
    parseCompactJws(token, maxLength);
  } catch (e) {
    expect(e).toBeInstanceOf(JwsFormatError);
    return (e as JwsFormatError).reason;
  }
  throw new Error("expected a JwsFormatError");
}

describe("RFC vectors", () => {
  it("verifies the RFC 8037 A.4 Ed25519 signature", () => {
    const [h, p, s] = RFC8037_A4.split(".");
    expect(
      verifyJwsSignature("EdDSA", edPublic, Buffer.from(`${h}.${p}`), Buffer.from(s ?? "", "base64url")),
    ).toBe(true);
  });

  it("reproduces the A.4 signature (Ed25519 is deterministic)", () => {
    const [h, p, s] = RFC8037_A4.split(".");
    expect(sign(null, Buffer.from(`${h}.${p}`), edPrivate).toString("base64url")).toBe(s);
  });

  it("parses and verifies the RFC 7515 A.3 ES256 JWS", () => {
    const jws = parseCompactJws(RFC7515_A3);
    expect(jws.header).toEqual({ alg: "ES256" });
    expect(jws.payload).toEqual({ iss: "joe", exp: 1300819380, "http://example.com/is_root": true });
    expect(verifyJwsSignature("ES256", rfcEcPublic, jws.signingInput, jws.signature)).toBe(true);
  });
});

describe("signCompactJws", () => {
  it("produces JWSs that jose verifies (EdDSA and ES256)", async () => {
    for (const [key, pub, alg] of [
      [edPrivate, edPublic, "EdDSA"],
      [ecPrivate, ecPublic, "ES256"],
    ] as const) {
      const token = signCompactJws({ typ: "at+jwt", kid: "k1" }, { sub: "x" }, key, alg);
      const { protectedHeader, payload } = await compactVerify(token, pub, { algorithms: [alg] });
      expect(protectedHeader).toEqual({ typ: "at+jwt", kid: "k1", alg });
      expect(JSON.parse(Buffer.from(payload).toString())).toEqual({ sub: "x" });
      const jws = parseCompactJws(token);
      expect(verifyJwsSignature(alg, pub, jws.signingInput, jws.signature)).toBe(true);
    }
  });

  it("refuses a header alg that differs from alg", () => {
    expect(() => signCompactJws({ alg: "none" }, {}, edPrivate, "EdDSA")).toThrow(/alg/);
  });
});

describe("parseCompactJws", () => {
  const ok = signCompactJws({}, { a: 1 }, edPrivate, "EdDSA");
  const [h, p, s] = ok.split(".") as [string, string, string];

  it("returns header, payload, signing input and signature", () => {
    const jws = parseCompactJws(ok);
    expect(jws.header).toEqual({ alg: "EdDSA" });
    expect(jws.payload).toEqual({ a: 1 });
    expect(jws.signingInput.toString()).toBe(`${h}.${p}`);
    expect(jws.signature).toHaveLength(64);
  });

  it("refuses JWE, wrong segment counts and empty segments", () => {
    expect(formatReason(`${h}.${p}.${s}.x.y`)).toMatch(/JWE/);
    expect(formatReason(`${h}.${p}`)).toMatch(/3 segments/);
    expect(formatReason(`${h}.${p}.`)).toMatch(/empty signature/);
    expect(formatReason(`.${p}.${s}`)).toMatch(/empty segment/);
    expect(formatReason("")).toMatch(/empty/);
  });

  it("refuses oversized input before decoding it", () => {
    expect(formatReason(`${h}.${"A".repeat(9000)}.${s}`)).toMatch(/longer than 8192/);
    expect(formatReason(ok, 50)).toMatch(/longer than 50/);
  });

  it("refuses non-base64url characters, padding and non-canonical encodings", () => {
    expect(formatReason(`${h}.${p}.${s}=`)).toMatch(/base64url/);
    expect(formatReason(`${h}.${p}+.${s}`)).toMatch(/base64url/);
    expect(formatReason(` ${ok}`)).toMatch(/base64url/);
    // 86 chars carry 64 bytes with 4 unused bits; a set unused bit must not alias the real signature.
    const alias = `${s.slice(0, 85)}${String.fromCharCode(s.charCodeAt(85) + 1)}`;
    expect(Buffer.from(alias, "base64url")).toEqual(Buffer.from(s, "base64url"));
    expect(formatReason(`${h}.${p}.${alias}`)).toMatch(/signature is not canonical/);
  });

  it("refuses non-JSON and non-object headers and payloads", () => {
    expect(formatReason(`${Buffer.from("{nope").toString("base64url")}.${p}.${s}`)).toMatch(
      /header is not valid/,
    );
    expect(formatReason(`${h}.${b64([1])}.${s}`)).toMatch(/payload is not a JSON object/);
    expect(formatReason(`${h}.${b64(null)}.${s}`)).toMatch(/payload is not a JSON object/);
    expect(formatReason(`${b64("EdDSA")}.${p}.${s}`)).toMatch(/header is not a JSON object/);
    expect(formatReason(`${h}.${Buffer.from([0x7b, 0xff, 0x7d]).toString("base64url")}.${s}`)).toMatch(
      /UTF-8/,
    );
  });

  it("refuses crit (RFC 7515 §4.1.11)", () => {
    expect(formatReason(`${b64({ alg: "EdDSA", crit: ["exp"] })}.${p}.${s}`)).toMatch(/crit/);
  });
});

describe("verifyJwsSignature", () => {
  const token = signCompactJws({}, { a: 1 }, ecPrivate, "ES256");
  const jws = parseCompactJws(token);

  it("refuses DER-encoded ES256 signatures and wrong lengths", () => {
    const der = sign("sha256", jws.signingInput, ecPrivate);
    expect(verifyJwsSignature("ES256", ecPublic, jws.signingInput, der)).toBe(false);
    expect(verifyJwsSignature("ES256", ecPublic, jws.signingInput, jws.signature.subarray(0, 63))).toBe(
      false,
    );
  });

  it("refuses a key whose type does not match alg", () => {
    expect(verifyJwsSignature("EdDSA", ecPublic, jws.signingInput, jws.signature)).toBe(false);
    const edJws = parseCompactJws(signCompactJws({}, { a: 1 }, edPrivate, "EdDSA"));
    expect(verifyJwsSignature("ES256", edPublic, edJws.signingInput, edJws.signature)).toBe(false);
    expect(
      verifyJwsSignature("EdDSA", createSecretKey(Buffer.alloc(32)), edJws.signingInput, edJws.signature),
    ).toBe(false);
  });

  it("refuses algorithms outside the allow-list even if asked at runtime", () => {
    expect(verifyJwsSignature("HS256" as "EdDSA", ecPublic, jws.signingInput, jws.signature)).toBe(false);
  });
});
