import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { DeputyError } from "@deputy/protocol";
import fc from "fast-check";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { importAgentPublicJwk } from "../crypto/jwk.js";
import {
  type AgentJwtCheckOptions,
  type AgentVerificationKey,
  parseAgentJwt,
  verifyAgentJwt,
} from "./agent-jwt.js";

const NOW = 1_750_000_000;
const ISSUER = "https://deputy.example";
const TOKEN_ENDPOINT = "https://deputy.example/oauth/token";
const AGENT = `agt_${"a".repeat(26)}`;
const OTHER_AGENT = `agt_${"b".repeat(26)}`;

function ed25519FromSeed(byte: number): KeyObject {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.alloc(32, byte)]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}
const edKey = ed25519FromSeed(1);
const unregisteredKey = ed25519FromSeed(3);
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

function registered(key: KeyObject): AgentVerificationKey {
  const { kid, keyObject, alg } = importAgentPublicJwk(createPublicKey(key).export({ format: "jwk" }));
  return { kid, keyObject, alg };
}
const ED = registered(edKey);
const EC = registered(ecKey);

interface Spec {
  key?: KeyObject;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

async function assertion(spec: Spec = {}): Promise<string> {
  const key = spec.key ?? edKey;
  const alg = key.asymmetricKeyType === "ed25519" ? "EdDSA" : "ES256";
  const claims: Record<string, unknown> = {
    iss: AGENT,
    sub: AGENT,
    aud: ISSUER,
    jti: "assertion-1",
    iat: NOW,
    exp: NOW + 60,
    ...spec.claims,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  const header: Record<string, unknown> = { alg, kid: alg === "EdDSA" ? ED.kid : EC.kid, ...spec.header };
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

const OPTS: AgentJwtCheckOptions = {
  keys: [ED, EC],
  audiences: [ISSUER, TOKEN_ENDPOINT],
  now: NOW,
  maxLifetimeSec: 300,
  errorCode: "ERR_INVALID_CLIENT",
};

function check(jwt: string, opts: Partial<AgentJwtCheckOptions> = {}) {
  const merged = { ...OPTS, ...opts };
  return verifyAgentJwt(parseAgentJwt(jwt, merged.errorCode), merged);
}

function refused(jwt: string, opts: Partial<AgentJwtCheckOptions>, message: RegExp): void {
  let thrown: unknown;
  try {
    check(jwt, opts);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DeputyError);
  expect((thrown as DeputyError).code).toBe(opts.errorCode ?? "ERR_INVALID_CLIENT");
  expect((thrown as DeputyError).message).toMatch(message);
}

describe("agent JWTs: happy paths", () => {
  it("accepts an Ed25519 client assertion with kid", async () => {
    expect(check(await assertion())).toEqual({
      agentId: AGENT,
      jti: "assertion-1",
      exp: NOW + 60,
      kid: ED.kid,
    });
  });

  it("accepts an ES256 assertion without kid by trying the keys of that alg", async () => {
    expect(check(await assertion({ key: ecKey, header: { kid: undefined } })).kid).toBe(EC.kid);
  });

  it("accepts aud as an array containing the token endpoint, and typ JWT", async () => {
    const jwt = await assertion({
      claims: { aud: ["https://other.example", TOKEN_ENDPOINT] },
      header: { typ: "JWT" },
    });
    expect(check(jwt).agentId).toBe(AGENT);
  });

  it("parses without verifying, exposing the agent id and kid for the key lookup", async () => {
    const parsed = parseAgentJwt(await assertion());
    expect(parsed.agentId).toBe(AGENT);
    expect(parsed.kid).toBe(ED.kid);
    expect(parsed.claims.jti).toBe("assertion-1");
  });

  it("uses ERR_INVALID_GRANT and 'Actor token' for actor tokens", async () => {
    refused(
      await assertion({ claims: { aud: "https://x.example" } }),
      { errorCode: "ERR_INVALID_GRANT" },
      /^Actor token aud/,
    );
  });
});

describe("agent JWTs: RFC 7523 §3 attacks", () => {
  it("assertion-wrong-aud: refuses an aud that is not this server", async () => {
    refused(await assertion({ claims: { aud: "https://resource.example" } }), {}, /aud is not this server/);
    refused(await assertion({ claims: { aud: [] } }), {}, /no aud/);
    refused(await assertion({ claims: { aud: undefined } }), {}, /no aud/);
    refused(await assertion({ claims: { aud: [ISSUER, 1] } }), {}, /no aud/);
  });

  it("assertion-expired: refuses exp in the past beyond the skew", async () => {
    refused(await assertion({ claims: { exp: NOW - 30 } }), {}, /has expired/);
    refused(await assertion({ claims: { exp: NOW - 1 } }), { skewSec: 0 }, /has expired/);
    expect(check(await assertion({ claims: { exp: NOW - 29 } })).exp).toBe(NOW - 29);
    refused(await assertion({ claims: { exp: undefined } }), {}, /no numeric exp/);
    refused(await assertion({ claims: { exp: `${NOW + 60}` } }), {}, /no numeric exp/);
  });

  it("assertion-too-long-lived: refuses exp further than maxLifetimeSec + skew away", async () => {
    refused(await assertion({ claims: { exp: NOW + 331 } }), {}, /lives longer than 300 seconds/);
    expect(check(await assertion({ claims: { exp: NOW + 330 } })).exp).toBe(NOW + 330);
  });

  it("assertion-future-iat and assertion-not-yet-valid: refuses iat or nbf after now + skew", async () => {
    refused(await assertion({ claims: { iat: NOW + 31 } }), {}, /iat is in the future/);
    refused(await assertion({ claims: { nbf: NOW + 31 } }), {}, /not yet valid/);
    refused(await assertion({ claims: { iat: "now" } }), {}, /iat must be a number/);
    expect(check(await assertion({ claims: { iat: undefined, nbf: NOW + 30 } })).agentId).toBe(AGENT);
  });

  it("assertion-iss-ne-sub: refuses iss ≠ sub or an iss that is not an agent id", async () => {
    refused(await assertion({ claims: { sub: OTHER_AGENT } }), {}, /sub must equal iss/);
    refused(
      await assertion({ claims: { iss: "https://deputy.example", sub: "https://deputy.example" } }),
      {},
      /agent id/,
    );
    refused(
      await assertion({ claims: { iss: `prn_${"a".repeat(26)}`, sub: `prn_${"a".repeat(26)}` } }),
      {},
      /agent id/,
    );
  });

  it("assertion-unregistered-key: refuses an unknown kid, or no key of the alg", async () => {
    refused(await assertion({ key: unregisteredKey, header: { kid: "unknown" } }), {}, /unregistered key/);
    refused(await assertion({ key: ecKey, header: { kid: undefined } }), { keys: [ED] }, /unregistered key/);
  });

  it("assertion-wrong-key-for-kid: refuses a signature by another key under a registered kid", async () => {
    refused(await assertion({ key: unregisteredKey }), {}, /signature is invalid/);
    refused(
      await assertion({ key: unregisteredKey, header: { kid: undefined } }),
      {},
      /signature is invalid/,
    );
  });

  it("assertion-alg-key-mismatch: refuses ES256 under an Ed25519 kid", async () => {
    refused(await assertion({ key: ecKey, header: { kid: ED.kid } }), {}, /alg does not match/);
  });

  it("assertion-alg-none and assertion-hs256: refuses algorithms outside the allow-list", async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const claims = { iss: AGENT, sub: AGENT, aud: ISSUER, jti: "j", exp: NOW + 60 };
    refused(`${b64({ alg: "none" })}.${b64(claims)}.AAAA`, {}, /alg is not allowed/);
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", kid: ED.kid })
      .sign(Buffer.alloc(32, 1));
    refused(hs, {}, /alg is not allowed/);
  });

  it("assertion-typ-confusion: refuses access tokens, DPoP proofs and status lists (RFC 8725 §3.11)", async () => {
    for (const typ of ["at+jwt", "application/at+jwt", "DPoP+JWT", "statuslist+jwt"]) {
      refused(await assertion({ header: { typ } }), {}, /must not be a/);
    }
    refused(await assertion({ header: { typ: 1 } }), {}, /typ must be a string/);
  });

  it("assertion-missing-jti: refuses a missing, empty or overlong jti", async () => {
    refused(await assertion({ claims: { jti: undefined } }), {}, /no jti/);
    refused(await assertion({ claims: { jti: "" } }), {}, /no jti/);
    refused(await assertion({ claims: { jti: "j".repeat(257) } }), {}, /jti is longer/);
  });

  it("assertion-malformed: refuses a JWE, junk and a non-string kid", async () => {
    refused("a.b.c.d.e", {}, /JWE/);
    refused("junk", {}, /segments/);
    refused(await assertion({ header: { kid: 5 } }), {}, /kid must be a string/);
  });

  it("assertion-tampered: any single-character change to the payload or signature is refused", async () => {
    const jwt = await assertion();
    const start = jwt.indexOf(".") + 1;
    fc.assert(
      fc.property(
        fc.integer({ min: start, max: jwt.length - 1 }),
        fc.constantFrom(..."AQgwBRhx09-_zZ.=+/"),
        (i, ch) => {
          fc.pre(jwt[i] !== ch && jwt[i] !== ".");
          expect(() => check(`${jwt.slice(0, i)}${ch}${jwt.slice(i + 1)}`)).toThrow(DeputyError);
        },
      ),
      { seed: 7523, numRuns: 300 },
    );
  });
});
