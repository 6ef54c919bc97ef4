import { DeputyError } from "@deputy/protocol";
import { calculateJwkThumbprint } from "jose";
import { describe, expect, it } from "vitest";
import { importAgentPublicJwk, jwkThumbprint, publicKeyFromJwk } from "./jwk.js";

/** RFC 8037 Appendix A.1 (the RFC 8032 §7.1 test 1 key). */
const ED25519 = {
  kty: "OKP",
  crv: "Ed25519",
  x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
};
/** RFC 7515 Appendix A.3 ES256 key. */
const P256 = {
  kty: "EC",
  crv: "P-256",
  x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
  d: "jpsQnnGQmL-YBIffH1136cLsBRH1cTK4hEGyaIrqIFI",
};
/** RFC 7638 §3.1 example RSA key. */
const RSA = {
  kty: "RSA",
  n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  e: "AQAB",
  alg: "RS256",
  kid: "2011-04-29",
};

function publicOf<T extends { d: string }>(jwk: T): Omit<T, "d"> {
  const { d: _d, ...pub } = jwk;
  return pub;
}

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DeputyError);
  expect((thrown as DeputyError).code).toBe(code);
  if (message !== undefined) expect((thrown as DeputyError).message).toMatch(message);
}

describe("jwkThumbprint", () => {
  it("matches the RFC 7638 §3.1 RSA example", () => {
    expect(jwkThumbprint(RSA)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  });

  it("matches the RFC 8037 Appendix A.3 Ed25519 example", () => {
    expect(jwkThumbprint(publicOf(ED25519))).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  });

  it("agrees with jose for P-256 and ignores non-required members and member order", async () => {
    const reordered = { y: P256.y, use: "sig", x: P256.x, kid: "whatever", crv: "P-256", kty: "EC" };
    expect(jwkThumbprint(reordered)).toBe(await calculateJwkThumbprint(publicOf(P256)));
  });

  it("refuses unknown key types and missing members", () => {
    expectCode(() => jwkThumbprint({ kty: "XYZ" }), "ERR_UNSUPPORTED_KEY");
    expectCode(() => jwkThumbprint({ kty: "EC", crv: "P-256", x: P256.x }), "ERR_UNSUPPORTED_KEY", /"y"/);
    expectCode(() => jwkThumbprint(null), "ERR_UNSUPPORTED_KEY");
  });
});

describe("importAgentPublicJwk", () => {
  it("imports Ed25519 and normalizes to kty, crv, x, kid = thumbprint, alg", () => {
    const k = importAgentPublicJwk({ ...publicOf(ED25519), use: "sig", kid: "client-chosen", alg: "EdDSA" });
    expect(k.alg).toBe("EdDSA");
    expect(k.kid).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    expect(k.jwk).toEqual({ kty: "OKP", crv: "Ed25519", x: ED25519.x, kid: k.kid, alg: "EdDSA" });
    expect(k.keyObject.asymmetricKeyType).toBe("ed25519");
    expect(k.keyObject.type).toBe("public");
  });

  it("imports P-256 with alg ES256", async () => {
    const k = importAgentPublicJwk({ ...publicOf(P256), key_ops: ["verify"] });
    expect(k.alg).toBe("ES256");
    expect(k.kid).toBe(await calculateJwkThumbprint(publicOf(P256)));
    expect(k.jwk).toEqual({ kty: "EC", crv: "P-256", x: P256.x, y: P256.y, kid: k.kid, alg: "ES256" });
  });

  it("caches the import: the same key gives the same KeyObject", () => {
    expect(publicKeyFromJwk(publicOf(ED25519))).toBe(publicKeyFromJwk({ ...publicOf(ED25519), use: "sig" }));
  });

  it("private-d: refuses a JWK with a private member (even when the public part is cached)", () => {
    importAgentPublicJwk(publicOf(ED25519));
    expectCode(() => importAgentPublicJwk(ED25519), "ERR_PRIVATE_KEY_MEMBERS", /"d"/);
    expectCode(() => importAgentPublicJwk(P256), "ERR_PRIVATE_KEY_MEMBERS");
    expectCode(() => importAgentPublicJwk({ kty: "oct", k: "c2VjcmV0" }), "ERR_PRIVATE_KEY_MEMBERS", /"k"/);
    for (const m of ["p", "q", "dp", "dq", "qi", "oth"]) {
      expectCode(() => importAgentPublicJwk({ ...RSA, [m]: "AQAB" }), "ERR_PRIVATE_KEY_MEMBERS");
    }
  });

  it("rsa-jwk: refuses RSA", () => {
    expectCode(() => importAgentPublicJwk(RSA), "ERR_UNSUPPORTED_KEY", /OKP|EC/);
  });

  it("p-384: refuses other curves", () => {
    const p384 = { kty: "EC", crv: "P-384", x: "A".repeat(64), y: "A".repeat(64) };
    expectCode(() => importAgentPublicJwk(p384), "ERR_UNSUPPORTED_KEY", /P-256/);
    expectCode(
      () => importAgentPublicJwk({ kty: "OKP", crv: "X25519", x: ED25519.x }),
      "ERR_UNSUPPORTED_KEY",
      /Ed25519/,
    );
    expectCode(() => importAgentPublicJwk({ kty: "OKP", crv: "Ed448", x: ED25519.x }), "ERR_UNSUPPORTED_KEY");
  });

  it("bad-lengths: refuses coordinates that are not 32 bytes", () => {
    const short = Buffer.alloc(31, 1).toString("base64url");
    const long = Buffer.alloc(33, 1).toString("base64url");
    expectCode(
      () => importAgentPublicJwk({ ...publicOf(ED25519), x: short }),
      "ERR_UNSUPPORTED_KEY",
      /32 bytes/,
    );
    expectCode(
      () => importAgentPublicJwk({ ...publicOf(ED25519), x: long }),
      "ERR_UNSUPPORTED_KEY",
      /32 bytes/,
    );
    expectCode(() => importAgentPublicJwk({ ...publicOf(P256), y: short }), "ERR_UNSUPPORTED_KEY", /"y"/);
    expectCode(
      () => importAgentPublicJwk({ kty: "EC", crv: "P-256", x: P256.x }),
      "ERR_UNSUPPORTED_KEY",
      /"y"/,
    );
    expectCode(() => importAgentPublicJwk({ kty: "OKP", crv: "Ed25519" }), "ERR_UNSUPPORTED_KEY", /"x"/);
    expectCode(() => importAgentPublicJwk({ kty: "OKP", crv: "Ed25519", x: 42 }), "ERR_UNSUPPORTED_KEY");
  });

  it("refuses non-canonical base64url and padding in coordinates", () => {
    // 43 chars encode 32 bytes with 2 unused bits; setting them gives another string for the same key.
    const lastBitSet = `${ED25519.x.slice(0, 42)}p`;
    expect(Buffer.from(lastBitSet, "base64url")).toEqual(Buffer.from(ED25519.x, "base64url"));
    expectCode(() => importAgentPublicJwk({ ...publicOf(ED25519), x: lastBitSet }), "ERR_UNSUPPORTED_KEY");
    expectCode(
      () => importAgentPublicJwk({ ...publicOf(ED25519), x: `${ED25519.x.slice(0, 42)}=` }),
      "ERR_UNSUPPORTED_KEY",
    );
  });

  it("refuses a P-256 point that is not on the curve", () => {
    const y = Buffer.from(P256.y, "base64url");
    y[31] = (y[31] ?? 0) ^ 1;
    expectCode(
      () => importAgentPublicJwk({ ...publicOf(P256), y: y.toString("base64url") }),
      "ERR_UNSUPPORTED_KEY",
      /not a valid public key/,
    );
  });

  it("refuses a mismatching alg, a use other than sig and key_ops other than verify", () => {
    expectCode(
      () => importAgentPublicJwk({ ...publicOf(ED25519), alg: "ES256" }),
      "ERR_UNSUPPORTED_KEY",
      /alg/,
    );
    expectCode(() => importAgentPublicJwk({ ...publicOf(P256), alg: "none" }), "ERR_UNSUPPORTED_KEY", /alg/);
    expectCode(
      () => importAgentPublicJwk({ ...publicOf(ED25519), use: "enc" }),
      "ERR_UNSUPPORTED_KEY",
      /use/,
    );
    expectCode(
      () => importAgentPublicJwk({ ...publicOf(ED25519), key_ops: ["sign"] }),
      "ERR_UNSUPPORTED_KEY",
    );
  });

  it("refuses non-objects", () => {
    for (const v of [null, undefined, "jwk", 1, [publicOf(ED25519)]]) {
      expectCode(() => importAgentPublicJwk(v), "ERR_UNSUPPORTED_KEY", /object/);
    }
  });
});
