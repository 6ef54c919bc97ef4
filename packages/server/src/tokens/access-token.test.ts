import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { type AccessTokenClaims, DeputyError } from "@deputy/protocol";
import fc from "fast-check";
import { SignJWT } from "jose";
import { describe, expect, it, vi } from "vitest";
import { jwkThumbprint } from "../crypto/jwk.js";
import { type AccessTokenContext, VerifiedTokenCache, verifyAccessToken } from "./access-token.js";

const NOW = 1_750_000_000;
const ISSUER = "https://deputy.example";
const AUDIENCE = "https://api.example";
const AGENT = `agt_${"a".repeat(26)}`;
const PARENT = `agt_${"c".repeat(26)}`;

function ed25519FromSeed(byte: number): KeyObject {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.alloc(32, byte)]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}
const edKey = ed25519FromSeed(1);
const strangerKey = ed25519FromSeed(4);
const ecKey = createPrivateKey({
  key: {
    kty: "EC",
    crv: "P-256",
    x: "qLA_NQNzjaU505VGPhtRhB0keg8SEfjPPmzVX2sOk8g",
    y: "nyJSUQWjzsPxdEAAVZWua3s3jem67_kPHQK9GuhTi_E",
    d: "tchCym5xhR2CMU2P269HxO-ttLKP5r27124bw7wa8GY",
  },
  format: "jwk",
});
const kidOf = (k: KeyObject) => jwkThumbprint(createPublicKey(k).export({ format: "jwk" }));
const ED_KID = kidOf(edKey);
const EC_KID = kidOf(ecKey);
const ISSUER_KEYS = new Map([
  [ED_KID, createPublicKey(edKey)],
  [EC_KID, createPublicKey(ecKey)],
]);

const CLAIMS: AccessTokenClaims = {
  iss: ISSUER,
  sub: `prn_${"b".repeat(26)}`,
  aud: AUDIENCE,
  client_id: AGENT,
  act: { sub: AGENT, act: { sub: PARENT } },
  scope: "read write",
  iat: NOW - 10,
  exp: NOW + 290,
  jti: `tok_${"d".repeat(26)}`,
  grant_id: `grt_${"e".repeat(26)}`,
  cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" },
  status: { status_list: { idx: 7, uri: `${ISSUER}/v1/status/lists/0` } },
};

interface Spec {
  key?: KeyObject;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

async function token(spec: Spec = {}): Promise<string> {
  const key = spec.key ?? edKey;
  const alg = key.asymmetricKeyType === "ed25519" ? "EdDSA" : "ES256";
  const claims: Record<string, unknown> = { ...CLAIMS, ...spec.claims };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  const header: Record<string, unknown> = { alg, typ: "at+jwt", kid: kidOf(key), ...spec.header };
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

function ctx(over: Partial<AccessTokenContext> = {}): AccessTokenContext {
  return { issuer: ISSUER, audience: AUDIENCE, now: NOW, resolveKey: (kid) => ISSUER_KEYS.get(kid), ...over };
}

function refused(t: string, message: RegExp, c: AccessTokenContext = ctx()): void {
  let thrown: unknown;
  try {
    verifyAccessToken(t, c);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DeputyError);
  expect((thrown as DeputyError).code).toBe("ERR_INVALID_TOKEN");
  expect((thrown as DeputyError).message).toMatch(message);
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("verifyAccessToken: happy paths", () => {
  it("accepts an EdDSA token and returns its claims", async () => {
    expect(verifyAccessToken(await token(), ctx())).toEqual(CLAIMS);
  });

  it("accepts an ES256 token, typ application/at+jwt, and no audience check when none is asked", async () => {
    const t = await token({ key: ecKey, header: { typ: "application/at+jwt" } });
    expect(
      verifyAccessToken(t, { issuer: ISSUER, now: NOW, resolveKey: (k) => ISSUER_KEYS.get(k) }).jti,
    ).toBe(CLAIMS.jti);
  });

  it("accepts a token without cnf (Bearer) and with nbf in the past", async () => {
    const claims = verifyAccessToken(await token({ claims: { cnf: undefined, nbf: NOW - 10 } }), ctx());
    expect(claims.cnf).toBeUndefined();
  });
});

describe("verifyAccessToken: RFC 9068 / RFC 8725 attacks", () => {
  it("alg-none: refused before any key is looked up", async () => {
    const resolveKey = vi.fn((kid: string) => ISSUER_KEYS.get(kid));
    const [, payload] = (await token()).split(".");
    refused(
      `${b64({ alg: "none", typ: "at+jwt", kid: ED_KID })}.${payload}.`,
      /empty signature/,
      ctx({ resolveKey }),
    );
    refused(
      `${b64({ alg: "none", typ: "at+jwt", kid: ED_KID })}.${payload}.AAAA`,
      /alg is not allowed/,
      ctx({ resolveKey }),
    );
    refused(
      `${b64({ typ: "at+jwt", kid: ED_KID })}.${payload}.AAAA`,
      /alg is not allowed/,
      ctx({ resolveKey }),
    );
    expect(resolveKey).not.toHaveBeenCalled();
  });

  it("hs256-with-public-key: HMAC keyed with the issuer's public key is refused before key use", async () => {
    const resolveKey = vi.fn((kid: string) => ISSUER_KEYS.get(kid));
    const publicPem = createPublicKey(edKey).export({ format: "pem", type: "spki" });
    const publicRaw = Buffer.from(createPublicKey(edKey).export({ format: "jwk" }).x ?? "", "base64url");
    for (const secret of [Buffer.from(publicPem), publicRaw]) {
      const t = await new SignJWT({ ...CLAIMS })
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: ED_KID })
        .sign(secret);
      refused(t, /alg is not allowed/, ctx({ resolveKey }));
    }
    for (const alg of ["RS256", "PS256", "ES384", "Ed25519", "eddsa"]) {
      refused(
        `${b64({ alg, typ: "at+jwt", kid: ED_KID })}.${b64(CLAIMS)}.AAAA`,
        /alg is not allowed/,
        ctx({ resolveKey }),
      );
    }
    expect(resolveKey).not.toHaveBeenCalled();
  });

  it("unknown-kid: refused, as is a missing kid", async () => {
    refused(await token({ key: strangerKey }), /unknown key/);
    refused(await token({ header: { kid: undefined } }), /no kid/);
  });

  it("alg-key-mismatch: ES256 header with the Ed25519 key's kid is refused", async () => {
    refused(await token({ key: ecKey, header: { kid: ED_KID } }), /signature is invalid/);
  });

  it("typ-jwt-instead-of-at-jwt: refused, as are a missing typ and other JWT types", async () => {
    for (const typ of ["JWT", "dpop+jwt", "statuslist+jwt", undefined, 1]) {
      refused(await token({ header: { typ } }), /typ must be "at\+jwt"/);
    }
  });

  it("expired: refused once exp ≤ now − leeway", async () => {
    refused(await token({ claims: { exp: NOW - 5 } }), /expired/);
    refused(await token({ claims: { exp: NOW } }), /expired/, ctx({ leewaySec: 0 }));
    expect(verifyAccessToken(await token({ claims: { exp: NOW - 4 } }), ctx()).exp).toBe(NOW - 4);
    refused(await token({ claims: { exp: undefined } }), /no numeric exp/);
  });

  it("not-yet-valid: refused when nbf or iat is after now + leeway", async () => {
    refused(await token({ claims: { nbf: NOW + 6 } }), /not yet valid/);
    refused(await token({ claims: { iat: NOW + 6 } }), /iat is in the future/);
    refused(await token({ claims: { iat: undefined } }), /no numeric iat/);
    refused(await token({ claims: { nbf: "soon" } }), /nbf must be a number/);
  });

  it("wrong-audience: refused", async () => {
    refused(await token({ claims: { aud: "https://other.example" } }), /another audience/);
    refused(await token({ claims: { aud: ["https://other.example"] } }), /another audience/);
  });

  it("array-audience: an array containing the audience passes the audience step but Deputy requires one", async () => {
    refused(
      await token({ claims: { aud: ["https://other.example", AUDIENCE] } }),
      /aud must be a single string/,
    );
  });

  it("wrong-issuer: refused", async () => {
    refused(await token({ claims: { iss: "https://deputy.example/" } }), /another issuer/);
    refused(await token({ claims: { iss: undefined } }), /another issuer/);
  });

  it("missing-claims: each required claim is enforced", async () => {
    for (const name of ["sub", "client_id", "jti", "grant_id", "scope", "act", "aud", "status"]) {
      const noAudienceCheck = { issuer: ISSUER, now: NOW, resolveKey: (kid: string) => ISSUER_KEYS.get(kid) };
      refused(await token({ claims: { [name]: undefined } }), new RegExp(name), noAudienceCheck);
    }
    refused(await token({ claims: { scope: ["read"] } }), /scope/);
    refused(await token({ claims: { act: { sub: 1 } } }), /act/);
    refused(await token({ claims: { act: { sub: AGENT, act: { name: "x" } } } }), /act/);
    refused(await token({ claims: { cnf: { jkt: 1 } } }), /cnf/);
    refused(await token({ claims: { status: { status_list: { idx: -1, uri: "x" } } } }), /status/);
  });

  it("malformed: oversized tokens, JWEs and crit headers are refused", async () => {
    refused(await token({ claims: { pad: "x".repeat(8200) } }), /longer than 8192/);
    refused("a.b.c.d.e", /JWE/);
    // jose refuses to sign an unknown crit, so the header is swapped in (crit is refused before the signature).
    const [, p, sig] = (await token()).split(".");
    refused(
      `${b64({ alg: "EdDSA", typ: "at+jwt", kid: ED_KID, crit: ["exp"], exp: 1 })}.${p}.${sig}`,
      /crit/,
    );
  });

  it("tampered-payload: a re-encoded payload with a widened scope is refused", async () => {
    const [h, , s] = (await token()).split(".");
    refused(`${h}.${b64({ ...CLAIMS, scope: "read write admin" })}.${s}`, /signature is invalid/);
  });

  it("tampered-any-byte: any single-byte change to the payload or signature is refused", async () => {
    for (const key of [edKey, ecKey]) {
      const t = await token({ key });
      const [h, p, s] = t.split(".") as [string, string, string];
      const payload = Buffer.from(p, "base64url");
      const signature = Buffer.from(s, "base64url");
      fc.assert(
        fc.property(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), (inSignature, at, xor) => {
          const bytes = Buffer.from(inSignature ? signature : payload);
          const i = at % bytes.length;
          bytes[i] = (bytes[i] ?? 0) ^ xor;
          const forged = inSignature
            ? `${h}.${p}.${bytes.toString("base64url")}`
            : `${h}.${bytes.toString("base64url")}.${s}`;
          expect(() => verifyAccessToken(forged, ctx())).toThrow(DeputyError);
        }),
        { seed: 9068, numRuns: 400 },
      );
      // The string form too: unused trailing bits and foreign characters must not alias the token.
      fc.assert(
        fc.property(
          fc.integer({ min: h.length + 1, max: t.length - 1 }),
          fc.constantFrom(..."AQgwBRhx09-_.=+/"),
          (i, ch) => {
            fc.pre(t[i] !== ch && t[i] !== ".");
            expect(() => verifyAccessToken(`${t.slice(0, i)}${ch}${t.slice(i + 1)}`, ctx())).toThrow(
              DeputyError,
            );
          },
        ),
        { seed: 8725, numRuns: 400 },
      );
    }
  });
});

describe("VerifiedTokenCache", () => {
  it("serves a verified token again without a signature check or key lookup", async () => {
    const cache = new VerifiedTokenCache();
    const t = await token();
    const resolveKey = vi.fn((kid: string) => ISSUER_KEYS.get(kid));
    const first = cache.verify(t, ctx({ resolveKey }));
    const second = cache.verify(t, ctx({ resolveKey }));
    expect(second).toBe(first);
    expect(resolveKey).toHaveBeenCalledTimes(1);
    expect(Object.isFrozen(second.act)).toBe(true);
  });

  it("still checks exp on every hit", async () => {
    const cache = new VerifiedTokenCache();
    const t = await token({ claims: { exp: NOW + 10 } });
    cache.verify(t, ctx());
    expect(cache.get(t, NOW + 14)).toBeDefined();
    expect(() => cache.verify(t, ctx({ now: NOW + 15 }))).toThrow(/expired/);
    expect(cache.size).toBe(0);
  });

  it("re-checks issuer and audience on a hit", async () => {
    const cache = new VerifiedTokenCache();
    const t = await token();
    cache.verify(t, ctx());
    expect(() => cache.verify(t, ctx({ audience: "https://other.example" }))).toThrow(/another audience/);
    expect(() => cache.verify(t, ctx({ issuer: "https://evil.example" }))).toThrow(/another issuer/);
  });

  it("is keyed by the whole token: a changed signature misses and is verified (and refused)", async () => {
    const cache = new VerifiedTokenCache();
    const t = await token();
    cache.verify(t, ctx());
    const [h, p, s] = t.split(".") as [string, string, string];
    const other = `${h}.${p}.${s.slice(0, 10)}${s[10] === "A" ? "B" : "A"}${s.slice(11)}`;
    expect(cache.get(other, NOW)).toBeUndefined();
    expect(() => cache.verify(other, ctx())).toThrow(/signature is invalid/);
  });

  it("is bounded and evicts the oldest entry first", async () => {
    const cache = new VerifiedTokenCache(2);
    const tokens = await Promise.all(
      [1, 2, 3].map((n) => token({ claims: { jti: `tok_${String(n).repeat(26)}` } })),
    );
    for (const t of tokens) cache.verify(t, ctx());
    expect(cache.size).toBe(2);
    expect(cache.get(tokens[0] ?? "", NOW)).toBeUndefined();
    expect(cache.get(tokens[2] ?? "", NOW)).toBeDefined();
    cache.clear();
    expect(cache.size).toBe(0);
  });
});
