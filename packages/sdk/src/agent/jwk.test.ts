import { importJWK, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { generateAgentKey, jwkAlg, jwkThumbprint, publicJwkOf, signingKey } from "./jwk.js";

// RFC 8037 Appendix A.1 (private key) and A.3 (its thumbprint).
const RFC8037_PRIVATE = {
  kty: "OKP",
  crv: "Ed25519",
  d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
  x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
};
const RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

describe("agent keys", () => {
  it("computes the RFC 8037 A.3 thumbprint, with or without private members", async () => {
    expect(await jwkThumbprint(publicJwkOf(RFC8037_PRIVATE))).toBe(RFC8037_THUMBPRINT);
    expect(await jwkThumbprint(RFC8037_PRIVATE)).toBe(RFC8037_THUMBPRINT);
    expect((await signingKey(RFC8037_PRIVATE)).kid).toBe(RFC8037_THUMBPRINT);
  });

  it.each(["EdDSA", "ES256"] as const)("generates %s key pairs whose kid is the thumbprint", async (alg) => {
    const key = await generateAgentKey(alg);
    expect(key.kid).toBe(await jwkThumbprint(key.publicJwk));
    expect(key.publicJwk).not.toHaveProperty("d");
    expect(key.privateJwk.d).toEqual(expect.any(String));
    expect(key.publicJwk).toMatchObject({ alg, use: "sig", kid: key.kid });
    expect(jwkAlg(key.privateJwk)).toBe(alg);
    // The pair is a pair: what the private key signs, the public key verifies.
    const jwt = await new SignJWT({}).setProtectedHeader({ alg }).sign(await importJWK(key.privateJwk, alg));
    await expect(jwtVerify(jwt, await importJWK(key.publicJwk, alg))).resolves.toBeTruthy();
  });

  it("refuses keys Deputy does not accept", async () => {
    expect(() => jwkAlg({ kty: "RSA", n: "x", e: "AQAB" })).toThrow(/Ed25519|P-256/);
    await expect(signingKey(publicJwkOf(RFC8037_PRIVATE))).rejects.toThrow(/private JWK/);
  });
});
