import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { DeputyError } from "@deputy/protocol";
import fc from "fast-check";
import { calculateJwkThumbprint, type JWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { signCompactJws } from "../crypto/jws.js";
import { type DpopCheckOptions, verifyDpopProof } from "./dpop.js";

const NOW = 1_750_000_000;
const HTU = "https://deputy.example/oauth/token";

function ed25519FromSeed(byte: number): KeyObject {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.alloc(32, byte)]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}
const edKey = ed25519FromSeed(1);
const otherEdKey = ed25519FromSeed(2);
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

function publicJwk(key: KeyObject): JWK {
  return createPublicKey(key).export({ format: "jwk" }) as JWK;
}

interface ProofSpec {
  key?: KeyObject;
  alg?: string;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

async function proof(spec: ProofSpec = {}): Promise<string> {
  const key = spec.key ?? edKey;
  const alg = spec.alg ?? (key.asymmetricKeyType === "ed25519" ? "EdDSA" : "ES256");
  const claims = { jti: "proof-1", htm: "POST", htu: HTU, iat: NOW, ...spec.claims };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k as keyof typeof claims];
  const header = { alg, typ: "dpop+jwt", jwk: publicJwk(key), ...spec.header };
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k as keyof typeof header];
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

const OPTS: DpopCheckOptions = { htm: "POST", htu: HTU, now: NOW };

function expectCode(fn: () => unknown, code: string, message?: RegExp): DeputyError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DeputyError);
  expect((thrown as DeputyError).code).toBe(code);
  if (message !== undefined) expect((thrown as DeputyError).message).toMatch(message);
  return thrown as DeputyError;
}

const invalid = (p: string, opts: Partial<DpopCheckOptions>, message?: RegExp) =>
  expectCode(() => verifyDpopProof(p, { ...OPTS, ...opts }), "ERR_INVALID_DPOP_PROOF", message);

describe("verifyDpopProof: happy paths", () => {
  it("accepts an Ed25519 proof and returns jkt, jti, iat and the public jwk", async () => {
    const r = verifyDpopProof(await proof(), OPTS);
    expect(r.jkt).toBe(await calculateJwkThumbprint(publicJwk(edKey)));
    expect(r.jti).toBe("proof-1");
    expect(r.iat).toBe(NOW);
    expect(r.jwk).toEqual({ ...publicJwk(edKey), kid: r.jkt, alg: "EdDSA" });
  });

  it("accepts an ES256 proof", async () => {
    const r = verifyDpopProof(await proof({ key: ecKey }), OPTS);
    expect(r.jkt).toBe(await calculateJwkThumbprint(publicJwk(ecKey)));
    expect(r.jwk.alg).toBe("ES256");
  });

  it("accepts a proof with ath, expectedJkt and nonce all matching", async () => {
    // RFC 9449 §7.1 example access token and its ath.
    const accessToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const p = await proof({ claims: { ath: "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo", nonce: "n-1" } });
    const jkt = await calculateJwkThumbprint(publicJwk(edKey));
    expect(verifyDpopProof(p, { ...OPTS, accessToken, expectedJkt: jkt, nonce: "n-1" }).jkt).toBe(jkt);
  });
});

describe("verifyDpopProof: RFC 9449 §4.3 attacks", () => {
  it("dpop-multiple-proofs: refuses more than one proof", async () => {
    const p = await proof();
    invalid(`${p}, ${p}`, {}, /more than one/);
    invalid(`${p},${p}`, {}, /more than one/);
    invalid("", {}, /missing/);
  });

  it("dpop-not-a-jws: refuses a malformed or oversized proof", async () => {
    invalid("abc.def", {}, /3 segments/);
    invalid(`${await proof({ claims: { pad: "x".repeat(9000) } })}`, {}, /longer than/);
  });

  it("dpop-wrong-typ: refuses typ other than dpop+jwt", async () => {
    invalid(await proof({ header: { typ: "JWT" } }), {}, /typ/);
    invalid(await proof({ header: { typ: undefined } }), {}, /typ/);
  });

  it("dpop-alg-none and dpop-hs256: refuses algorithms outside the allow-list", async () => {
    const header = Buffer.from(
      JSON.stringify({ alg: "none", typ: "dpop+jwt", jwk: publicJwk(edKey) }),
    ).toString("base64url");
    const body = Buffer.from(JSON.stringify({ jti: "j", htm: "POST", htu: HTU, iat: NOW })).toString(
      "base64url",
    );
    invalid(`${header}.${body}.AAAA`, {}, /alg is not allowed/);
    const hs = await new SignJWT({ jti: "j", htm: "POST", htu: HTU, iat: NOW })
      .setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk: publicJwk(edKey) })
      .sign(Buffer.from(publicJwk(edKey).x ?? "", "base64url"));
    invalid(hs, {}, /alg is not allowed/);
  });

  it("dpop-missing-jwk: refuses a proof without a jwk header", async () => {
    invalid(await proof({ header: { jwk: undefined } }), {}, /no jwk/);
  });

  it("dpop-private-key-in-header: refuses a jwk with private members", async () => {
    const privateJwk = edKey.export({ format: "jwk" });
    const p = signCompactJws(
      { typ: "dpop+jwt", jwk: privateJwk },
      { jti: "j", htm: "POST", htu: HTU, iat: NOW },
      edKey,
      "EdDSA",
    );
    const e = invalid(p, {}, /private member "d"/);
    expect((e.cause as DeputyError).code).toBe("ERR_PRIVATE_KEY_MEMBERS");
  });

  it("dpop-unsupported-key: refuses an RSA or P-384 jwk", async () => {
    invalid(await proof({ header: { jwk: { kty: "RSA", n: "AQAB", e: "AQAB" } } }), {}, /kty/);
    const p384 = { kty: "EC", crv: "P-384", x: "A".repeat(64), y: "A".repeat(64) };
    invalid(await proof({ header: { jwk: p384 } }), {}, /P-256/);
  });

  it("dpop-alg-key-mismatch: refuses alg ES256 with an Ed25519 jwk", async () => {
    const p = signCompactJws(
      { typ: "dpop+jwt", jwk: publicJwk(edKey) },
      { jti: "j", htm: "POST", htu: HTU, iat: NOW },
      ecKey,
      "ES256",
    );
    invalid(p, {}, /alg does not match/);
  });

  it("dpop-signed-by-other-key: refuses a signature by another key than the jwk", async () => {
    invalid(await proof({ key: otherEdKey, header: { jwk: publicJwk(edKey) } }), {}, /signature is invalid/);
  });

  it("dpop-missing-jti: refuses a proof without jti, or with an overlong one", async () => {
    invalid(await proof({ claims: { jti: undefined } }), {}, /no jti/);
    invalid(await proof({ claims: { jti: "" } }), {}, /no jti/);
    invalid(await proof({ claims: { jti: 7 } }), {}, /no jti/);
    invalid(await proof({ claims: { jti: "j".repeat(257) } }), {}, /jti is longer/);
    expect(verifyDpopProof(await proof({ claims: { jti: "j".repeat(256) } }), OPTS).jti).toHaveLength(256);
  });

  it("dpop-wrong-htm: refuses another method (methods are case-sensitive)", async () => {
    invalid(await proof({ claims: { htm: "GET" } }), {}, /htm does not match the request method/);
    invalid(await proof({ claims: { htm: "post" } }), {}, /htm does not match/);
    invalid(await proof({ claims: { htm: undefined } }), {}, /no htm/);
  });

  it("dpop-wrong-htu: refuses another URI", async () => {
    for (const htu of [
      "https://deputy.example/oauth/revoke",
      "https://evil.example/oauth/token",
      "http://deputy.example/oauth/token",
      "https://deputy.example:8443/oauth/token",
      "https://deputy.example/oauth/token/",
      "https://user@deputy.example/oauth/token",
      "/oauth/token",
      "urn:x:y",
    ]) {
      invalid(await proof({ claims: { htu } }), {}, /htu does not match the request URI/);
    }
    invalid(await proof({ claims: { htu: undefined } }), {}, /no htu/);
  });

  it("dpop-htu-normalized: compares per RFC 3986 §6.2.2–6.2.3, ignoring query and fragment", async () => {
    const equal: Array<[string, string]> = [
      ["HTTPS://Deputy.EXAMPLE:443/oauth/token?x=1#frag", HTU],
      ["https://deputy.example", "https://deputy.example/"],
      ["https://deputy.example/a/%7euser/%2f", "https://deputy.example/a/~user/%2F"],
      ["https://deputy.example/a/./b/../token", "https://deputy.example/a/token"],
      ["http://deputy.example:80/t", "http://deputy.example/t"],
    ];
    for (const [claim, request] of equal) {
      expect(verifyDpopProof(await proof({ claims: { htu: claim } }), { ...OPTS, htu: request }).jti).toBe(
        "proof-1",
      );
    }
  });

  it("dpop-stale-iat: refuses a proof older than maxAgeSec", async () => {
    invalid(await proof({ claims: { iat: NOW - 61 } }), {}, /iat is too old/);
    invalid(await proof({ claims: { iat: NOW - 11 } }), { maxAgeSec: 10 }, /iat is too old/);
    expect(verifyDpopProof(await proof({ claims: { iat: NOW - 60 } }), OPTS).iat).toBe(NOW - 60);
  });

  it("dpop-future-iat: refuses a proof from the future beyond futureSkewSec", async () => {
    invalid(await proof({ claims: { iat: NOW + 6 } }), {}, /iat is in the future/);
    invalid(await proof({ claims: { iat: NOW + 1 } }), { futureSkewSec: 0 }, /iat is in the future/);
    invalid(await proof({ claims: { iat: String(NOW) } }), {}, /numeric iat/);
    expect(verifyDpopProof(await proof({ claims: { iat: NOW + 5 } }), OPTS).iat).toBe(NOW + 5);
  });

  it("dpop-ath-mismatch: refuses an ath of another access token, or none", async () => {
    const accessToken = "token-a";
    const athOf = (t: string) => createHash("sha256").update(t).digest("base64url");
    invalid(await proof({ claims: { ath: athOf("token-b") } }), { accessToken }, /ath does not match/);
    invalid(await proof(), { accessToken }, /no ath/);
    expect(
      verifyDpopProof(await proof({ claims: { ath: athOf(accessToken) } }), { ...OPTS, accessToken }).jti,
    ).toBe("proof-1");
  });

  it("dpop-other-key-than-cnf: refuses a proof by a key other than the token's cnf.jkt", async () => {
    const boundJkt = await calculateJwkThumbprint(publicJwk(otherEdKey));
    invalid(await proof(), { expectedJkt: boundJkt }, /not the key the access token is bound to/);
  });

  it("dpop-nonce: a missing or stale nonce is ERR_USE_DPOP_NONCE", async () => {
    const noNonce = await proof();
    expectCode(() => verifyDpopProof(noNonce, { ...OPTS, nonce: "n-2" }), "ERR_USE_DPOP_NONCE", /nonce/);
    const stale = await proof({ claims: { nonce: "n-1" } });
    expectCode(() => verifyDpopProof(stale, { ...OPTS, nonce: "n-2" }), "ERR_USE_DPOP_NONCE", /nonce/);
  });

  it("dpop-tampered: any single-character change to the payload or signature is refused", async () => {
    const p = await proof({ key: ecKey });
    const payloadStart = p.indexOf(".") + 1;
    const sigEnd = p.length;
    fc.assert(
      fc.property(
        fc.integer({ min: payloadStart, max: sigEnd - 1 }),
        fc.constantFrom(..."AQgwBRhx09-_zZ.=+/ "),
        (i, ch) => {
          fc.pre(p[i] !== ch && p[i] !== ".");
          const tampered = `${p.slice(0, i)}${ch}${p.slice(i + 1)}`;
          expect(() => verifyDpopProof(tampered, OPTS)).toThrow(DeputyError);
        },
      ),
      { seed: 9449, numRuns: 300 },
    );
  });
});
