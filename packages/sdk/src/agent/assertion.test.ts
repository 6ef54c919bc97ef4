import { createHash } from "node:crypto";
import { decodeProtectedHeader, EmbeddedJWK, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { createActorToken, createClientAssertion } from "./assertion.js";
import { createDpopProof } from "./dpop-proof.js";
import { generateAgentKey } from "./jwk.js";

const issuer = "http://127.0.0.1:4747";
const agentId = "agt_aaaaaaaaaaaaaaaaaaaaaaaaaa";

describe("client assertions and actor tokens", () => {
  it.each([
    ["client assertion", createClientAssertion],
    ["actor token", createActorToken],
  ])("a %s verifies with the public key and has the RFC 7523 shape", async (_name, create) => {
    const key = await generateAgentKey();
    const jwt = await create({ agentId, privateJwk: key.privateJwk, audience: issuer, lifetimeSec: 120 });
    const { payload, protectedHeader } = await jwtVerify(jwt, await importJWK(key.publicJwk, "EdDSA"), {
      issuer: agentId,
      subject: agentId,
      audience: issuer,
      typ: "JWT",
    });
    expect(protectedHeader).toEqual({ alg: "EdDSA", kid: key.kid, typ: "JWT" });
    expect(Object.keys(payload).sort()).toEqual(["aud", "exp", "iat", "iss", "jti", "sub"]);
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("uses a fresh jti every time and refuses lifetimes over 5 minutes", async () => {
    const { privateJwk } = await generateAgentKey("ES256");
    const a = await createClientAssertion({ agentId, privateJwk, audience: issuer });
    const b = await createClientAssertion({ agentId, privateJwk, audience: issuer });
    expect(decodeProtectedHeader(a).alg).toBe("ES256");
    expect(a).not.toBe(b);
    await expect(
      createClientAssertion({ agentId, privateJwk, audience: issuer, lifetimeSec: 301 }),
    ).rejects.toThrow(RangeError);
  });
});

describe("DPoP proofs", () => {
  it("carry the public key, htm, htu without query, iat, jti, ath and nonce (RFC 9449 §4.2)", async () => {
    const key = await generateAgentKey();
    const accessToken = "eyJ.fake.token";
    const proof = await createDpopProof({
      privateJwk: key.privateJwk,
      htm: "get",
      htu: "https://api.example.com/tickets?id=1#frag",
      accessToken,
      nonce: "n-1",
    });
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: "dpop+jwt" });
    expect(protectedHeader).toEqual({
      typ: "dpop+jwt",
      alg: "EdDSA",
      jwk: { kty: "OKP", crv: "Ed25519", x: key.publicJwk.x },
    });
    expect(payload).toEqual({
      jti: expect.any(String),
      htm: "GET",
      htu: "https://api.example.com/tickets",
      iat: expect.any(Number),
      ath: createHash("sha256").update(accessToken).digest("base64url"),
      nonce: "n-1",
    });
  });

  it("omits ath and nonce when there is no token or nonce; P-256 keys carry y", async () => {
    const key = await generateAgentKey("ES256");
    const proof = await createDpopProof({
      privateJwk: key.privateJwk,
      htm: "POST",
      htu: `${issuer}/oauth/token`,
    });
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK);
    expect(Object.keys(payload).sort()).toEqual(["htm", "htu", "iat", "jti"]);
    expect(protectedHeader.jwk).toEqual({ kty: "EC", crv: "P-256", x: key.publicJwk.x, y: key.publicJwk.y });
  });
});
