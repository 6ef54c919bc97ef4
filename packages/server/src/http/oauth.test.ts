/**
 * Wire tests for /oauth/token (client_credentials + private_key_jwt + DPoP), introspection and
 * RFC 7009 revocation, including the attacks of issue #2 by name.
 */
import { createHmac, createPublicKey } from "node:crypto";
import { inflateSync } from "node:zlib";
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, newTokenId } from "@deputy/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { clientAssertion, dpopProof, signJwt, testKey, testP256Key } from "../test-support/keys.js";
import {
  clientCredentials,
  decodeJwt,
  form,
  getToken,
  introspectAs,
  nowS,
  postForm,
  TOKEN_URL,
  tokenRequest,
} from "../test-support/oauth.js";
import {
  createTestDeputy,
  type Story,
  setupStory,
  T0,
  TEST_ADMIN_TOKEN,
  TEST_ISSUER,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

let t: TestDeputy;
let s: Story;

beforeEach(async () => {
  t = await createTestDeputy();
  s = await setupStory(t);
});
afterEach(async () => t.close());

function oauthError(res: { statusCode: number; json(): any }, status: number, error: string) {
  expect({ status: res.statusCode, error: res.json().error }).toEqual({ status, error });
  expect(typeof res.json().error_description).toBe("string");
}

describe("client_credentials", () => {
  it("issues a 5-minute DPoP-bound at+jwt that says agent X, for principal P, may do S on R", async () => {
    const res = await clientCredentials(t, s.agent, s.agentKey, { scope: "read" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    const body = res.json();
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: "DPoP",
      expires_in: 300,
      scope: "read",
    });
    const { header, payload } = decodeJwt(body.access_token);
    expect(header).toEqual({ typ: "at+jwt", alg: "EdDSA", kid: t.deputy.keys.activeKid });
    expect(payload).toEqual({
      iss: TEST_ISSUER,
      sub: s.principal,
      aud: TEST_RESOURCE,
      client_id: s.agent,
      act: { sub: s.agent },
      scope: "read",
      iat: T0 / 1000,
      exp: T0 / 1000 + 300,
      jti: expect.stringMatching(/^tok_[a-z]{10}[a-z2-7]{26}$/),
      grant_id: s.grant,
      cnf: { jkt: s.agentKey.kid },
      status: { status_list: { idx: expect.any(Number), uri: `${TEST_ISSUER}/v1/status/lists/0` } },
      agent_prov: { verified: false },
    });
    // The jti's time part is the server clock's minting time (the fake clock's T0).
    expect(String(payload.jti).slice(0, 14)).toBe(newTokenId(T0).slice(0, 14));
  });

  it("verifies offline against the JWKS with an independent implementation (jose)", async () => {
    const { jwtVerify, createLocalJWKSet } = await import("jose");
    const token = await getToken(t, s.agent, s.agentKey);
    const jwks = (await t.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json();
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: TEST_ISSUER,
      audience: TEST_RESOURCE,
      typ: "at+jwt",
      currentDate: new Date(T0 + 1000),
    });
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(payload.client_id).toBe(s.agent);
  });

  it("defaults scope to the grant's and binds the token to the DPoP key, not the client key", async () => {
    const other = testKey(99);
    const res = await clientCredentials(t, s.agent, s.agentKey, { dpopKey: other });
    expect(res.statusCode).toBe(200);
    const { payload } = decodeJwt(res.json().access_token);
    expect(payload.scope).toBe("read write");
    expect(payload.cnf).toEqual({ jkt: other.kid });
  });

  it("accepts P-256 agent keys (ES256)", async () => {
    const key = testP256Key();
    const a = await t.api("POST", "/v1/agents", {
      principal: s.principal,
      name: "p256",
      jwks: { keys: [key.publicJwk] },
    });
    expect(a.statusCode).toBe(201);
    await t.api("POST", "/v1/grants", {
      agent: a.json().id,
      scopes: ["read"],
      resources: [TEST_RESOURCE],
      expires_at: new Date(T0 + 3_600_000).toISOString(),
    });
    const res = await clientCredentials(t, a.json().id, key);
    expect(res.statusCode).toBe(200);
    expect(decodeJwt(res.json().access_token).payload.cnf.jkt).toBe(key.kid);
  });

  it("caps the token's lifetime at the grant's expiry", async () => {
    t.clock.advance(86_400_000 - 100_000);
    const res = await clientCredentials(t, s.agent, s.agentKey);
    expect(res.json().expires_in).toBe(100);
  });

  it("wider scope than granted → invalid_scope", async () => {
    oauthError(
      await clientCredentials(t, s.agent, s.agentKey, { scope: "read admin" }),
      400,
      "invalid_scope",
    );
  });

  it("unregistered resource → invalid_target", async () => {
    oauthError(
      await clientCredentials(t, s.agent, s.agentKey, { resource: "https://unknown.test" }),
      400,
      "invalid_target",
    );
  });

  it("two resources in one request → invalid_target", async () => {
    oauthError(
      await clientCredentials(t, s.agent, s.agentKey, { resource: [TEST_RESOURCE, TEST_ISSUER] }),
      400,
      "invalid_target",
    );
  });

  it("registered resource without a grant → invalid_target", async () => {
    oauthError(
      await clientCredentials(t, s.agent, s.agentKey, { resource: TEST_ISSUER }),
      400,
      "invalid_target",
    );
  });

  it("unsupported grant_type → unsupported_grant_type", async () => {
    oauthError(await tokenRequest(t, { grant_type: "password" }), 400, "unsupported_grant_type");
  });

  it("a repeated parameter → invalid_request (RFC 6749 §3.2)", async () => {
    const res = await postForm(t, "/oauth/token", "grant_type=client_credentials&scope=a&scope=b");
    oauthError(res, 400, "invalid_request");
  });

  it("JSON instead of a form → 415 invalid_request", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/oauth/token",
      headers: { "content-type": "application/json" },
      payload: "{}",
    });
    oauthError(res, 415, "invalid_request");
  });

  it("a body over the size limit → 413", async () => {
    const res = await postForm(t, "/oauth/token", `grant_type=client_credentials&x=${"a".repeat(70_000)}`);
    expect(res.statusCode).toBe(413);
  });

  it("missing DPoP where the resource requires it → invalid_dpop_proof", async () => {
    oauthError(await clientCredentials(t, s.agent, s.agentKey, { dpopKey: null }), 400, "invalid_dpop_proof");
  });

  it("Bearer tokens where the resource permits them", async () => {
    await t.close();
    t = await createTestDeputy();
    s = await setupStory(t, { allowBearer: true });
    const res = await clientCredentials(t, s.agent, s.agentKey, { dpopKey: null });
    expect(res.statusCode).toBe(200);
    expect(res.json().token_type).toBe("Bearer");
    expect(decodeJwt(res.json().access_token).payload.cnf).toBeUndefined();
  });

  it("max_tokens budget is enforced", async () => {
    await t.close();
    t = await createTestDeputy();
    s = await setupStory(t, { constraints: { max_tokens: 2 } });
    expect((await clientCredentials(t, s.agent, s.agentKey)).statusCode).toBe(200);
    expect((await clientCredentials(t, s.agent, s.agentKey)).statusCode).toBe(200);
    oauthError(await clientCredentials(t, s.agent, s.agentKey), 400, "invalid_grant");
  });

  it("an expired grant issues nothing", async () => {
    t.clock.advance(86_400_001);
    oauthError(await clientCredentials(t, s.agent, s.agentKey), 400, "invalid_target");
  });
});

describe("private_key_jwt attacks", () => {
  const cc = (assertion: string) => clientCredentials(t, s.agent, s.agentKey, { assertion });

  it("replayed-assertion: the second use of a jti is refused", async () => {
    const assertion = clientAssertion(s.agentKey, s.agent, nowS(t));
    expect((await cc(assertion)).statusCode).toBe(200);
    oauthError(await cc(assertion), 401, "invalid_client");
  });

  it("replayed-assertion under parallel calls: exactly one wins", async () => {
    const assertion = clientAssertion(s.agentKey, s.agent, nowS(t));
    const results = await Promise.all(Array.from({ length: 8 }, () => cc(assertion)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
  });

  it("expired-assertion", async () => {
    const now = nowS(t);
    oauthError(
      await cc(clientAssertion(s.agentKey, s.agent, now - 600, { exp: now - 60 })),
      401,
      "invalid_client",
    );
  });

  it("assertion-too-long-lived (exp more than 5 minutes away)", async () => {
    const now = nowS(t);
    oauthError(
      await cc(clientAssertion(s.agentKey, s.agent, now, { exp: now + 3600 })),
      401,
      "invalid_client",
    );
  });

  it("wrong-audience assertion", async () => {
    oauthError(
      await cc(clientAssertion(s.agentKey, s.agent, nowS(t), { aud: "https://evil.test" })),
      401,
      "invalid_client",
    );
  });

  it("unregistered-key: signed by a key the agent never registered", async () => {
    const stranger = testKey(42);
    oauthError(await cc(clientAssertion(stranger, s.agent, nowS(t))), 401, "invalid_client");
    oauthError(
      await cc(clientAssertion(stranger, s.agent, nowS(t), {}, { kid: s.agentKey.kid })),
      401,
      "invalid_client",
    );
  });

  it("iss ≠ sub", async () => {
    oauthError(
      await cc(clientAssertion(s.agentKey, s.agent, nowS(t), { sub: "agt_aaaaaaaaaaaaaaaaaaaaaaaaaa" })),
      401,
      "invalid_client",
    );
  });

  it("alg-none assertion", async () => {
    const h = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const p = Buffer.from(
      JSON.stringify({ iss: s.agent, sub: s.agent, aud: TEST_ISSUER, jti: "x", exp: nowS(t) + 60 }),
    ).toString("base64url");
    oauthError(await cc(`${h}.${p}.`), 401, "invalid_client");
  });

  it("no client authentication → invalid_client", async () => {
    oauthError(
      await tokenRequest(t, { grant_type: "client_credentials", resource: TEST_RESOURCE }),
      401,
      "invalid_client",
    );
  });

  it("client_secret-style auth is refused (only private_key_jwt)", async () => {
    const res = await tokenRequest(t, {
      grant_type: "client_credentials",
      client_assertion_type: "urn:example:other",
      client_assertion: clientAssertion(s.agentKey, s.agent, nowS(t)),
    });
    oauthError(res, 401, "invalid_client");
  });
});

describe("DPoP attacks at the token endpoint", () => {
  const withProof = (proof: string) => clientCredentials(t, s.agent, s.agentKey, { proof });

  it("replayed-proof", async () => {
    const proof = dpopProof(s.agentKey, { htm: "POST", htu: TOKEN_URL, iat: nowS(t) });
    expect((await withProof(proof)).statusCode).toBe(200);
    oauthError(await withProof(proof), 400, "invalid_dpop_proof");
  });

  it("wrong-htm", async () => {
    oauthError(
      await withProof(dpopProof(s.agentKey, { htm: "GET", htu: TOKEN_URL, iat: nowS(t) })),
      400,
      "invalid_dpop_proof",
    );
  });

  it("wrong-htu", async () => {
    oauthError(
      await withProof(
        dpopProof(s.agentKey, { htm: "POST", htu: "https://evil.test/oauth/token", iat: nowS(t) }),
      ),
      400,
      "invalid_dpop_proof",
    );
  });

  it("stale-iat", async () => {
    oauthError(
      await withProof(dpopProof(s.agentKey, { htm: "POST", htu: TOKEN_URL, iat: nowS(t) - 3600 })),
      400,
      "invalid_dpop_proof",
    );
  });

  it("typ JWT instead of dpop+jwt", async () => {
    oauthError(
      await withProof(
        dpopProof(s.agentKey, { htm: "POST", htu: TOKEN_URL, iat: nowS(t) }, {}, { typ: "JWT" }),
      ),
      400,
      "invalid_dpop_proof",
    );
  });

  it("proof signed by a key other than the one in its jwk header", async () => {
    const other = testKey(77);
    oauthError(
      await withProof(
        dpopProof(other, { htm: "POST", htu: TOKEN_URL, iat: nowS(t) }, {}, { jwk: s.agentKey.publicJwk }),
      ),
      400,
      "invalid_dpop_proof",
    );
  });

  it("server nonces when enabled: use_dpop_nonce with a DPoP-Nonce header, then success", async () => {
    await t.close();
    t = await createTestDeputy({ dpopNonce: true });
    s = await setupStory(t);
    const first = await clientCredentials(t, s.agent, s.agentKey);
    oauthError(first, 400, "use_dpop_nonce");
    const nonce = first.headers["dpop-nonce"] as string;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const proof = dpopProof(s.agentKey, { htm: "POST", htu: TOKEN_URL, iat: nowS(t), nonce });
    expect((await withProof(proof)).statusCode).toBe(200);
  });
});

describe("introspection (RFC 7662)", () => {
  it("answers active with the token's claims to its resource", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const res = await introspectAs(t, s.resource, token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      active: true,
      iss: TEST_ISSUER,
      sub: s.principal,
      aud: TEST_RESOURCE,
      client_id: s.agent,
      scope: "read write",
      exp: T0 / 1000 + 300,
      iat: T0 / 1000,
      jti: expect.stringMatching(/^tok_/),
      grant_id: s.grant,
      act: { sub: s.agent },
      token_type: "DPoP",
      cnf: { jkt: s.agentKey.kid },
    });
  });

  it("expired, malformed and foreign tokens → {active:false}", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const foreign = signJwt(
      testKey(5),
      { typ: "at+jwt", kid: t.deputy.keys.activeKid },
      decodeJwt(token).payload,
    );
    expect((await introspectAs(t, s.resource, "not-a-jwt")).json()).toEqual({ active: false });
    expect((await introspectAs(t, s.resource, foreign)).json()).toEqual({ active: false });
    t.clock.advance(301_000);
    expect((await introspectAs(t, s.resource, token)).json()).toEqual({ active: false });
  });

  it("a token for another audience is inactive to this resource", async () => {
    const other = await t.api("POST", "/v1/resources", { audience: "https://other.test", name: "Other" });
    const token = await getToken(t, s.agent, s.agentKey);
    expect(
      (await introspectAs(t, { id: other.json().id, secret: other.json().client_secret }, token)).json(),
    ).toEqual({
      active: false,
    });
  });

  it("requires resource credentials", async () => {
    const res = await postForm(t, "/oauth/introspect", form({ token: "x" }));
    oauthError(res, 401, "invalid_client");
    const bad = await introspectAs(t, { id: s.resource.id, secret: "drs_wrong" }, "x");
    oauthError(bad, 401, "invalid_client");
  });

  it("the admin may introspect", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const res = await postForm(t, "/oauth/introspect", form({ token }), {
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
    });
    expect(res.json().active).toBe(true);
  });
});

describe("access-token profile attacks at introspection (RFC 8725)", () => {
  async function forged(header: Record<string, unknown>, sign: (input: string) => string) {
    const token = await getToken(t, s.agent, s.agentKey);
    const { payload } = decodeJwt(token);
    const h = Buffer.from(JSON.stringify(header)).toString("base64url");
    const p = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return introspectAs(t, s.resource, `${h}.${p}.${sign(`${h}.${p}`)}`);
  }

  it("alg-none", async () => {
    expect(
      (await forged({ alg: "none", typ: "at+jwt", kid: t.deputy.keys.activeKid }, () => "")).json(),
    ).toEqual({ active: false });
  });

  it("hs256-with-public-key: HMAC keyed with the issuer's public key", async () => {
    const jwk = (await t.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json().keys[0];
    const pem = createPublicKey({ key: jwk, format: "jwk" }).export({ format: "pem", type: "spki" });
    const res = await forged({ alg: "HS256", typ: "at+jwt", kid: jwk.kid }, (input) =>
      createHmac("sha256", pem).update(input).digest("base64url"),
    );
    expect(res.json()).toEqual({ active: false });
  });

  it("unknown-kid", async () => {
    const res = await forged({ alg: "EdDSA", typ: "at+jwt", kid: "nope" }, () => "AAAA");
    expect(res.json()).toEqual({ active: false });
  });

  it("typ JWT instead of at+jwt (signed by the real issuer key)", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const resigned = t.deputy.keys.sign({ typ: "JWT" }, decodeJwt(token).payload);
    expect((await introspectAs(t, s.resource, resigned)).json()).toEqual({ active: false });
  });

  it("not-yet-valid token (iat in the future)", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const { payload } = decodeJwt(token);
    const future = t.deputy.keys.sign(
      { typ: "at+jwt" },
      { ...payload, iat: payload.iat + 3600, exp: payload.exp + 3600 },
    );
    expect((await introspectAs(t, s.resource, future)).json()).toEqual({ active: false });
  });
});

describe("revocation endpoint (RFC 7009)", () => {
  it("the holding agent revokes its token; introspection turns inactive", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const res = await postForm(
      t,
      "/oauth/revoke",
      form({
        token,
        client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
        client_assertion: clientAssertion(s.agentKey, s.agent, nowS(t)),
      }),
    );
    expect(res.statusCode).toBe(200);
    expect((await introspectAs(t, s.resource, token)).json()).toEqual({ active: false });
  });

  it("another agent cannot revoke it", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const k2 = testKey(2);
    const a2 = await t.api("POST", "/v1/agents", {
      principal: s.principal,
      name: "other",
      jwks: { keys: [k2.publicJwk] },
    });
    const res = await postForm(
      t,
      "/oauth/revoke",
      form({
        token,
        client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
        client_assertion: clientAssertion(k2, a2.json().id, nowS(t)),
      }),
    );
    oauthError(res, 400, "unauthorized_client");
    expect((await introspectAs(t, s.resource, token)).json().active).toBe(true);
  });

  it("a local revocation invalidates the status lists once, before it answers, and the next list shows it", async () => {
    const token = await getToken(t, s.agent, s.agentKey);
    const idx = decodeJwt(token).payload.status.status_list.idx as number;
    expect((await t.app.inject({ method: "GET", url: "/v1/status/lists/0" })).statusCode).toBe(200);
    const invalidations = vi.spyOn(t.deputy.statusLists, "invalidate");
    const jti = decodeJwt(token).payload.jti as string;
    const res = await t.api("POST", "/v1/revocations", { target: jti });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      target: jti,
      revoked: { principals: 0, agents: 0, grants: 0, tokens: 1 },
      agents: [],
      grants: [],
    });
    expect(invalidations).toHaveBeenCalledTimes(1);
    const list = await t.app.inject({ method: "GET", url: "/v1/status/lists/0" });
    expect(list.statusCode).toBe(200);
    const lst = decodeJwt(list.body).payload.status_list.lst as string;
    const bits = inflateSync(Buffer.from(lst, "base64url"));
    expect((bits[idx >> 3]! >> (idx & 7)) & 1).toBe(1);
    // A revocation that changes nothing (already revoked) publishes no event: no invalidation.
    expect((await t.api("POST", "/v1/revocations", { target: jti })).statusCode).toBe(200);
    expect(invalidations).toHaveBeenCalledTimes(1);
  });

  it("unknown or garbage tokens answer 200 (§2.2)", async () => {
    const res = await postForm(t, "/oauth/revoke", form({ token: "garbage" }), {
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
    });
    expect(res.statusCode).toBe(200);
  });
});
