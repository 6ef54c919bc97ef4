import { generateKeyPairSync, sign } from "node:crypto";
import fc from "fast-check";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { nodeCryptoBackend } from "../node.js";
import {
  AUDIENCE,
  dpopProof,
  type FakeIssuer,
  fakeIssuer,
  ISSUER,
  seededKey,
  signJwt,
} from "../test-support/fake-issuer.js";
import { challengeFor } from "./challenge.js";
import { VerificationError } from "./errors.js";
import { defaultSignatureBackend, type SignatureBackend, webCryptoBackend } from "./jws.js";
import { createVerifier, type Verifier, type VerifierOptions } from "./verifier.js";

/** Every test runs on both signature backends: Web Crypto (the default) and node:crypto. */
const BACKENDS: Array<[string, SignatureBackend | undefined]> = [
  ["Web Crypto", webCryptoBackend],
  ["node:crypto", nodeCryptoBackend],
  ["the default backend", undefined],
];
let backend: SignatureBackend | undefined;

/** These tests are about the token alone; the DPoP proof is the subject of other tests. */
const ELSEWHERE = { dpop: "checked-elsewhere" } as const;
const URL_ = `${AUDIENCE}/tickets`;
const open: Verifier[] = [];
afterEach(async () => {
  for (const v of open.splice(0)) await v.close();
});

function setup(opts: Partial<VerifierOptions> = {}) {
  const d = fakeIssuer();
  const errors: Array<{ code?: string; message: string }> = [];
  const v = createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    fetch: d.fetch,
    now: () => d.clock.now,
    onError: (e) => errors.push(e),
    ...(backend !== undefined ? { signatureBackend: backend } : {}),
    ...opts,
  });
  open.push(v);
  return { d, v, errors };
}

function request(
  d: FakeIssuer,
  token: string,
  o: { method?: string; url?: string; proof?: string; proofUrl?: string } = {},
) {
  const method = o.method ?? "GET";
  const url = o.url ?? URL_;
  const proof =
    o.proof ??
    dpopProof(d.agentKey, {
      htm: method,
      htu: o.proofUrl ?? url,
      iat: Math.floor(d.clock.now / 1000),
      token,
    });
  return { method, url, headers: { authorization: `DPoP ${token}`, dpop: proof } };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(VerificationError);
  return (e as VerificationError).code;
}

it("defaults to node:crypto where the runtime hands it out (process.getBuiltinModule), else Web Crypto", () => {
  const offered = typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule === "function";
  expect(defaultSignatureBackend.name).toBe(offered ? "node:crypto" : "web-crypto");
  expect(webCryptoBackend.name).toBe("web-crypto");
  expect(nodeCryptoBackend.name).toBe("node:crypto");
});

for (const [name, b] of BACKENDS) {
  describe(`signatures on ${name}`, () => {
    beforeAll(() => {
      backend = b;
    });

    describe("verifier: tokens (RFC 9068, RFC 8725)", () => {
      it("accepts a DPoP-bound token and returns who is calling", async () => {
        const { d, v } = setup();
        const token = d.token({
          act: { sub: "agt_deployer", act: { sub: "agt_parent", act: { sub: "agt_root" } } },
        });
        const who = await v.verify(request(d, token));
        expect(who).toMatchObject({
          principal: "prn_ada",
          agent: "agt_deployer",
          chain: ["agt_parent", "agt_root"],
          scope: ["read", "write"],
          grantId: "grt_1",
          jkt: d.agentKey.kid,
        });
        expect(who.tokenId).toMatch(/^tok_/);
      });

      it("token from another issuer: ERR_TOKEN_ISSUER, and no JWKS refetch for it", async () => {
        const { d, v } = setup();
        await v.verify(request(d, d.token()));
        const before = d.requests.length;
        const foreign = d.token({ iss: "https://evil.test" }, {}, seededKey("evil"));
        expect(await refusal(v.verify(request(d, foreign)))).toBe("ERR_TOKEN_ISSUER");
        expect(d.requests.length).toBe(before);
      });

      it("token for another audience: ERR_TOKEN_AUDIENCE", async () => {
        const { d, v } = setup();
        expect(await refusal(v.verify(request(d, d.token({ aud: "https://other.test" }))))).toBe(
          "ERR_TOKEN_AUDIENCE",
        );
      });

      it("alg none, HS256 and a forged signature are refused", async () => {
        const { d, v } = setup();
        const good = d.token();
        const [, p] = good.split(".");
        const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url")}.${p}.`;
        expect(await refusal(v.verifyToken(none, ELSEWHERE))).toBe("ERR_TOKEN_MALFORMED");
        const hs = `${Buffer.from(JSON.stringify({ alg: "HS256", typ: "at+jwt", kid: d.issuerKey.kid })).toString("base64url")}.${p}.AAAA`;
        expect(await refusal(v.verifyToken(hs, ELSEWHERE))).toBe("ERR_TOKEN_ALG_NOT_ALLOWED");
        const forged = d.token({}, {}, seededKey("attacker")).split(".");
        const withIssuerKid = d.token().split(".");
        // Issuer's header and kid, attacker's signature over different claims.
        const mixed = `${withIssuerKid[0]}.${forged[1]}.${forged[2]}`;
        expect(await refusal(v.verifyToken(mixed, ELSEWHERE))).toBe("ERR_TOKEN_SIGNATURE");
      });

      it("UTF-8 claims decode; a payload that is not valid UTF-8 is malformed", async () => {
        const { d, v } = setup();
        const who = await v.verifyToken(d.token({ note: "Adé ✓" }), ELSEWHERE);
        expect(who.claims.note).toBe("Adé ✓");
        const h = d.token().split(".")[0];
        const bad = `${h}.${Buffer.from([0x7b, 0xff, 0x7d]).toString("base64url")}.${"A".repeat(86)}`;
        expect(await refusal(v.verifyToken(bad, ELSEWHERE))).toBe("ERR_TOKEN_MALFORMED");
      });

      it("a signature in non-canonical base64url (non-zero trailing bits, or 4n+1 characters) is malformed", async () => {
        const { d, v } = setup();
        const token = d.token();
        const dot = token.lastIndexOf(".");
        const sig = token.slice(dot + 1);
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        // 86 characters for 64 bytes: the last one carries 2 bits and 4 zero bits; set one of those.
        const last = alphabet.indexOf(sig.at(-1) as string);
        const twin = `${token.slice(0, dot + 1)}${sig.slice(0, -1)}${alphabet[last | 1]}`;
        expect(Buffer.from(twin.slice(dot + 1), "base64url")).toEqual(Buffer.from(sig, "base64url"));
        expect(await refusal(v.verifyToken(twin, ELSEWHERE))).toBe("ERR_TOKEN_MALFORMED");
        expect(await refusal(v.verifyToken(`${token}AAA`, ELSEWHERE))).toBe("ERR_TOKEN_MALFORMED");
        await v.verifyToken(token, ELSEWHERE);
      });

      it("scopes: stray spaces make no empty scope; payloads of every base64 length decode", async () => {
        const { d, v } = setup();
        expect((await v.verifyToken(d.token({ scope: " read  write " }), ELSEWHERE)).scope).toEqual([
          "read",
          "write",
        ]);
        expect((await v.verifyToken(d.token({ scope: "" }), ELSEWHERE)).scope).toEqual([]);
        for (const pad of ["", "x", "xx", "xxx"]) {
          expect((await v.verifyToken(d.token({ pad }), ELSEWHERE)).claims.pad).toBe(pad);
        }
      });

      it("returned claims are frozen, also when the token cache keeps nothing", async () => {
        for (const tokenCacheSize of [0, 10]) {
          const { d, v } = setup({ tokenCacheSize });
          const who = await v.verifyToken(d.token(), ELSEWHERE);
          expect(Object.isFrozen(who.claims)).toBe(true);
          expect(Object.isFrozen(who.claims.act)).toBe(true);
          expect(Object.isFrozen(who.claims.status?.status_list)).toBe(true);
        }
      });

      it("typ other than at+jwt is refused (RFC 8725 §3.11)", async () => {
        const { d, v } = setup();
        expect(await refusal(v.verifyToken(d.token({}, { typ: "JWT" }), ELSEWHERE))).toBe("ERR_TOKEN_TYP");
      });

      it("missing or malformed claims are refused", async () => {
        const { d, v } = setup();
        expect(await refusal(v.verifyToken(d.token({ grant_id: undefined }), ELSEWHERE))).toBe(
          "ERR_TOKEN_CLAIMS",
        );
        expect(await refusal(v.verifyToken(d.token({ act: { sub: "agt_someone_else" } }), ELSEWHERE))).toBe(
          "ERR_TOKEN_CLAIMS",
        );
        expect(
          await refusal(
            v.verifyToken(d.token({ status: { status_list: { idx: -1, uri: "x" } } }), ELSEWHERE),
          ),
        ).toBe("ERR_TOKEN_CLAIMS");
        expect(await refusal(v.verifyToken("not a jwt", ELSEWHERE))).toBe("ERR_TOKEN_MALFORMED");
        expect(await refusal(v.verifyToken("a.b.c", ELSEWHERE))).toBe("ERR_TOKEN_MALFORMED");
      });

      it("clock skew: within the leeway passes, beyond it is refused", async () => {
        const { d, v } = setup({ leewaySec: 5 });
        const now = Math.floor(d.clock.now / 1000);
        await v.verifyToken(d.token({ iat: now + 4 }), ELSEWHERE);
        expect(await refusal(v.verifyToken(d.token({ iat: now + 30 }), ELSEWHERE))).toBe(
          "ERR_TOKEN_IAT_IN_FUTURE",
        );
        expect(await refusal(v.verifyToken(d.token({ nbf: now + 30 }), ELSEWHERE))).toBe(
          "ERR_TOKEN_NOT_YET_VALID",
        );
        await v.verifyToken(d.token({ exp: now - 4 }), ELSEWHERE);
        expect(await refusal(v.verifyToken(d.token({ exp: now - 6 }), ELSEWHERE))).toBe("ERR_TOKEN_EXPIRED");
      });

      it("a cached (warm) token is still refused once it expires", async () => {
        const { d, v } = setup();
        const token = d.token();
        await v.verifyToken(token, ELSEWHERE);
        d.clock.now += 306_000;
        expect(await refusal(v.verifyToken(token, ELSEWHERE))).toBe("ERR_TOKEN_EXPIRED");
      });
    });

    describe("verifier: issuer keys (JWKS)", () => {
      it("duplicate kid in the JWKS: tokens under that kid are refused", async () => {
        const { d, v } = setup();
        const impostor = seededKey("impostor");
        d.jwks.keys.push({ ...impostor.publicJwk, kid: d.issuerKey.kid, alg: "EdDSA", use: "sig" });
        expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_TOKEN_UNKNOWN_KEY");
        expect(await refusal(v.verifyToken(d.token({}, {}, impostor), ELSEWHERE))).toBe(
          "ERR_TOKEN_UNKNOWN_KEY",
        );
      });

      it("unexpected key types (RSA, oct, private, encryption, wrong alg) are skipped without crashing", async () => {
        const { d, v } = setup();
        const other = seededKey("other");
        d.jwks.keys.unshift(
          { kty: "RSA", kid: "rsa", n: "AQAB", e: "AQAB" },
          { kty: "oct", kid: "hmac", k: "c2VjcmV0" },
          { ...other.publicJwk, kid: "private", d: "AAAA" },
          { ...other.publicJwk, kid: "enc", use: "enc" },
          { ...other.publicJwk, kid: "wrong-alg", alg: "ES256" },
          { kty: "OKP", crv: "Ed25519", kid: "bad-point", x: "!!" },
          null as unknown as Record<string, unknown>,
        );
        await v.verifyToken(d.token(), ELSEWHERE);
        for (const kid of ["rsa", "hmac", "private", "enc", "wrong-alg", "bad-point"]) {
          expect(await refusal(v.verifyToken(d.token({}, { kid }, other), ELSEWHERE))).toBe(
            "ERR_TOKEN_UNKNOWN_KEY",
          );
        }
        expect(v.keys.size).toBe(1);
      });

      it("rotation: a new key is fetched on an unknown kid; a rotated-out key is refused once gone", async () => {
        const { d, v } = setup({ jwks: { minRefetchIntervalMs: 1_000, refreshIntervalMs: 60_000 } });
        const oldToken = d.token();
        await v.verifyToken(oldToken, ELSEWHERE);
        const next = seededKey("issuer-2");
        d.jwks.keys.push({ ...next.publicJwk, kid: next.kid, alg: "EdDSA", use: "sig" });
        d.clock.now += 2_000;
        await v.verifyToken(d.token({}, {}, next), ELSEWHERE);
        // The old key leaves the JWKS: after the next refresh, even a cached token by it is refused.
        d.jwks.keys.splice(0, 1);
        d.clock.now += 61_000;
        const fresh = d.token({}, {}, d.issuerKey);
        expect(await refusal(v.verifyToken(fresh, ELSEWHERE))).toBe("ERR_TOKEN_UNKNOWN_KEY");
        // oldToken was verified (and cached) before and has not expired: the cache dropped it too.
        expect(await refusal(v.verifyToken(oldToken, ELSEWHERE))).toBe("ERR_TOKEN_UNKNOWN_KEY");
      });

      it("unknown kids do not hammer the JWKS (refetch is rate-limited)", async () => {
        const { d, v } = setup({ jwks: { minRefetchIntervalMs: 10_000 } });
        await v.verifyToken(d.token(), ELSEWHERE);
        const jwksFetches = () => d.requests.filter((u) => u.endsWith("/jwks.json")).length;
        const before = jwksFetches();
        for (let i = 0; i < 20; i++)
          await refusal(v.verifyToken(d.token({}, { kid: `forged-${i}` }), ELSEWHERE));
        expect(jwksFetches() - before).toBeLessThanOrEqual(1);
      });

      it("issuer outage: random kids cost at most one JWKS fetch per cooldown, one in flight at a time", async () => {
        const d = fakeIssuer();
        let down = false;
        let jwksFetches = 0;
        const outage: typeof fetch = async (input, init) => {
          const url = String(input);
          if (url.endsWith("/jwks.json") || url.includes("/.well-known/oauth-authorization-server")) {
            if (url.endsWith("/jwks.json")) jwksFetches++;
            if (down) throw new Error("ECONNREFUSED");
          }
          return d.fetch(input, init);
        };
        const v = createVerifier({
          issuer: ISSUER,
          audience: AUDIENCE,
          fetch: outage,
          now: () => d.clock.now,
          jwks: { minRefetchIntervalMs: 10_000, refreshIntervalMs: 60_000 },
          ...(backend !== undefined ? { signatureBackend: backend } : {}),
        });
        open.push(v);
        await v.verifyToken(d.token(), ELSEWHERE);
        expect(jwksFetches).toBe(1);
        down = true;
        d.clock.now += 61_000; // the key set is due for its refresh, and the issuer is down
        const forged = (i: number) => d.token({}, { kid: `forged-${i}` });
        // 50 at once: one fetch, shared.
        const codes = await Promise.all(
          Array.from({ length: 50 }, (_, i) => refusal(v.verifyToken(forged(i), ELSEWHERE))),
        );
        expect(new Set(codes)).toEqual(new Set(["ERR_TOKEN_UNKNOWN_KEY"]));
        expect(jwksFetches).toBe(2);
        // One after another within the cooldown: none; the known key keeps verifying meanwhile.
        for (let i = 0; i < 50; i++) {
          d.clock.now += 100;
          expect(await refusal(v.verifyToken(forged(100 + i), ELSEWHERE))).toBe("ERR_TOKEN_UNKNOWN_KEY");
          await v.verifyToken(d.token(), ELSEWHERE);
        }
        expect(jwksFetches).toBe(2);
        // Once the cooldown is over, one more try.
        d.clock.now += 10_000;
        for (let i = 0; i < 10; i++) await refusal(v.verifyToken(forged(200 + i), ELSEWHERE));
        expect(jwksFetches).toBe(3);
        // The issuer is back: the next due fetch brings new keys.
        down = false;
        const next = seededKey("issuer-after-outage");
        d.jwks.keys.push({ ...next.publicJwk, kid: next.kid, alg: "EdDSA", use: "sig" });
        d.clock.now += 10_000;
        await v.verifyToken(d.token({}, {}, next), ELSEWHERE);
        expect(jwksFetches).toBe(4);
      });

      it("no JWKS yet and the issuer down: ERR_JWKS_UNAVAILABLE, retried at most once per cooldown", async () => {
        let fetches = 0;
        const d = fakeIssuer();
        const v = createVerifier({
          issuer: ISSUER,
          audience: AUDIENCE,
          now: () => d.clock.now,
          jwks: { minRefetchIntervalMs: 10_000 },
          fetch: async () => {
            fetches++;
            throw new Error("ECONNREFUSED");
          },
        });
        open.push(v);
        for (let i = 0; i < 20; i++) {
          d.clock.now += 100;
          expect(await refusal(v.verifyToken(d.token({}, { kid: `k${i}` }), ELSEWHERE))).toBe(
            "ERR_JWKS_UNAVAILABLE",
          );
        }
        expect(fetches).toBe(1);
        d.clock.now += 10_000;
        expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_JWKS_UNAVAILABLE");
        expect(fetches).toBe(2);
      });

      it("an unreachable issuer: ERR_JWKS_UNAVAILABLE (503), not a crash", async () => {
        const v = createVerifier({
          issuer: ISSUER,
          audience: AUDIENCE,
          fetch: async () => {
            throw new Error("ECONNREFUSED");
          },
        });
        open.push(v);
        const d = fakeIssuer();
        const e = await v.verifyToken(d.token(), ELSEWHERE).catch((x: unknown) => x);
        expect(e).toMatchObject({ code: "ERR_JWKS_UNAVAILABLE", status: 503 });
      });
    });

    describe("verifier: DPoP (RFC 9449)", () => {
      it("verifyToken refuses a DPoP-bound token without its proof (a stolen token is not a bearer token)", async () => {
        const { d, v, errors } = setup();
        const stolen = d.token();
        // RFC 9449 §7.1: cold (never seen) and warm (seen with its proof before) alike.
        expect(await refusal(v.verifyToken(stolen))).toBe("ERR_DPOP_PROOF_REQUIRED");
        await v.verify(request(d, stolen));
        const e = await v.verifyToken(stolen).catch((x: unknown) => x);
        expect(e).toMatchObject({ code: "ERR_DPOP_PROOF_REQUIRED", status: 401, error: "invalid_token" });
        // A misspelt opt-out is not an opt-out.
        expect(
          await refusal(
            v.verifyToken(stolen, { dpop: "checked_elsewhere" } as unknown as { dpop: "checked-elsewhere" }),
          ),
        ).toBe("ERR_DPOP_MISSING");
        expect(errors).toEqual([]);
      });

      it("verifyToken with the proof and request checks the proof; the explicit opt-out skips it", async () => {
        const { d, v } = setup();
        const token = d.token();
        const r = request(d, token);
        const dpop = { proof: r.headers.dpop, method: "get", url: URL_ };
        expect((await v.verifyToken(token, { dpop })).jkt).toBe(d.agentKey.kid);
        expect(await refusal(v.verifyToken(token, { dpop }))).toBe("ERR_DPOP_REPLAYED");
        const other = request(d, token).headers.dpop;
        expect(
          await refusal(v.verifyToken(token, { dpop: { ...dpop, proof: other, url: `${AUDIENCE}/admin` } })),
        ).toBe("ERR_DPOP_HTU_MISMATCH");
        const thief = dpopProof(seededKey("thief"), {
          htm: "GET",
          htu: URL_,
          iat: Math.floor(d.clock.now / 1000),
          token,
        });
        expect(await refusal(v.verifyToken(token, { dpop: { ...dpop, proof: thief } }))).toBe(
          "ERR_DPOP_KEY_MISMATCH",
        );
        expect(await refusal(v.verifyToken(token, { dpop: { ...dpop, proof: "" } }))).toBe(
          "ERR_DPOP_MISSING",
        );
        // Opting out hands the caller the key to check the proof against.
        expect((await v.verifyToken(token, { dpop: "checked-elsewhere" })).jkt).toBe(d.agentKey.kid);
      });

      it("verifyToken: a token that is not bound is a bearer token: refused unless allowBearer, and a proof for it is refused", async () => {
        const { d, v } = setup();
        const unbound = d.token({ cnf: undefined });
        // As verify() refuses `Authorization: Bearer`, whatever the caller says about the proof.
        expect(await refusal(v.verifyToken(unbound))).toBe("ERR_BEARER_NOT_ALLOWED");
        expect(await refusal(v.verifyToken(unbound, { dpop: "checked-elsewhere" }))).toBe(
          "ERR_BEARER_NOT_ALLOWED",
        );
        const bearer = setup({ allowBearer: true }).v;
        expect((await bearer.verifyToken(unbound)).jkt).toBeUndefined();
        const proof = request(d, unbound).headers.dpop;
        for (const verifier of [v, bearer]) {
          expect(
            await refusal(verifier.verifyToken(unbound, { dpop: { proof, method: "GET", url: URL_ } })),
          ).toBe("ERR_TOKEN_CLAIMS");
        }
      });

      it("the proof is checked before revocation: without a valid one, a revoked token's state is not told", async () => {
        const { d, v } = setup({ allowBearer: true });
        const status = { status_list: { idx: 3, uri: `${ISSUER}/v1/status/lists/0` } };
        const token = d.token({ status });
        d.revoked.set(0, [3]);
        const wrongUrl = request(d, token, { proofUrl: `${AUDIENCE}/other` });
        expect(await refusal(v.verify(wrongUrl))).toBe("ERR_DPOP_HTU_MISMATCH");
        const viaToken = v.verifyToken(token, {
          dpop: { proof: wrongUrl.headers.dpop, method: "GET", url: URL_ },
        });
        expect(await refusal(viaToken)).toBe("ERR_DPOP_HTU_MISMATCH");
        expect(await refusal(v.verifyToken(token))).toBe("ERR_DPOP_PROOF_REQUIRED");
        const asBearer = { method: "GET", url: URL_, headers: { authorization: `Bearer ${token}` } };
        expect(await refusal(v.verify(asBearer))).toBe("ERR_TOKEN_NOT_BEARER");
        expect(await refusal(v.verify(request(d, token)))).toBe("ERR_TOKEN_REVOKED");
      });

      it("a proof for another URL or method is refused", async () => {
        const { d, v } = setup();
        const token = d.token();
        expect(await refusal(v.verify(request(d, token, { proofUrl: `${AUDIENCE}/admin` })))).toBe(
          "ERR_DPOP_HTU_MISMATCH",
        );
        expect(await refusal(v.verify(request(d, token, { proofUrl: "https://evil.test/tickets" })))).toBe(
          "ERR_DPOP_HTU_MISMATCH",
        );
        const proof = dpopProof(d.agentKey, {
          htm: "GET",
          htu: URL_,
          iat: Math.floor(d.clock.now / 1000),
          token,
        });
        expect(await refusal(v.verify(request(d, token, { method: "DELETE", proof })))).toBe(
          "ERR_DPOP_HTM_MISMATCH",
        );
      });

      it("htu is compared after RFC 3986 normalisation (§4.3), ignoring query and fragment", async () => {
        const { d, v } = setup();
        const token = d.token();
        await v.verify(
          request(d, token, {
            url: `${AUDIENCE}/tickets?page=2`,
            proofUrl: "HTTPS://API.test:443/./tickets#x",
          }),
        );
        await v.verify(request(d, token, { url: `${AUDIENCE}/a%7eb`, proofUrl: `${AUDIENCE}/a~b` }));
      });

      it("ath mismatch: a proof made for another token is refused", async () => {
        const { d, v } = setup();
        const token = d.token();
        const proof = dpopProof(d.agentKey, {
          htm: "GET",
          htu: URL_,
          iat: Math.floor(d.clock.now / 1000),
          token: d.token(),
        });
        expect(await refusal(v.verify(request(d, token, { proof })))).toBe("ERR_DPOP_ATH_MISMATCH");
      });

      it("a replayed proof is refused", async () => {
        const { d, v } = setup();
        const req = request(d, d.token());
        await v.verify(req);
        expect(await refusal(v.verify(req))).toBe("ERR_DPOP_REPLAYED");
      });

      it("a proof signed by another key than cnf.jkt is refused", async () => {
        const { d, v } = setup();
        const token = d.token();
        const proof = dpopProof(seededKey("thief"), {
          htm: "GET",
          htu: URL_,
          iat: Math.floor(d.clock.now / 1000),
          token,
        });
        expect(await refusal(v.verify(request(d, token, { proof })))).toBe("ERR_DPOP_KEY_MISMATCH");
      });

      it("proof clock skew beyond the window, wrong typ, private jwk, two proofs: refused", async () => {
        const { d, v } = setup();
        const token = d.token();
        const now = Math.floor(d.clock.now / 1000);
        const mk = (o: Record<string, unknown>, h: Record<string, unknown> = {}) =>
          dpopProof(d.agentKey, { htm: "GET", htu: URL_, iat: now, token }, o, h);
        expect(await refusal(v.verify(request(d, token, { proof: mk({ iat: now - 120 }) })))).toBe(
          "ERR_DPOP_IAT",
        );
        expect(await refusal(v.verify(request(d, token, { proof: mk({ iat: now + 60 }) })))).toBe(
          "ERR_DPOP_IAT",
        );
        expect(await refusal(v.verify(request(d, token, { proof: mk({}, { typ: "JWT" }) })))).toBe(
          "ERR_DPOP_TYP",
        );
        expect(await refusal(v.verify(request(d, token, { proof: mk({}, { alg: "HS256" }) })))).toBe(
          "ERR_DPOP_ALG_NOT_ALLOWED",
        );
        expect(
          await refusal(
            v.verify(request(d, token, { proof: mk({}, { jwk: { ...d.agentKey.publicJwk, d: "AAAA" } }) })),
          ),
        ).toBe("ERR_DPOP_JWK");
        const two = {
          method: "GET",
          url: URL_,
          headers: { authorization: `DPoP ${token}`, dpop: [mk({}), mk({})] },
        };
        expect(await refusal(v.verify(two))).toBe("ERR_DPOP_MALFORMED");
        const missing = { method: "GET", url: URL_, headers: { authorization: `DPoP ${token}` } };
        expect(await refusal(v.verify(missing))).toBe("ERR_DPOP_MISSING");
      });

      it("Bearer: refused unless allowed, and never for a DPoP-bound token", async () => {
        const { d, v } = setup();
        const bearer = {
          method: "GET",
          url: URL_,
          headers: { authorization: `Bearer ${d.token({ cnf: undefined })}` },
        };
        expect(await refusal(v.verify(bearer))).toBe("ERR_BEARER_NOT_ALLOWED");
        const lax = setup({ allowBearer: true });
        await lax.v.verify({
          ...bearer,
          headers: { authorization: `Bearer ${lax.d.token({ cnf: undefined })}` },
        });
        const bound = { method: "GET", url: URL_, headers: { authorization: `Bearer ${lax.d.token()}` } };
        expect(await refusal(lax.v.verify(bound))).toBe("ERR_TOKEN_NOT_BEARER");
        expect(await refusal(v.verify({ method: "GET", url: URL_, headers: {} }))).toBe("ERR_TOKEN_MISSING");
        expect(
          await refusal(v.verify({ method: "GET", url: URL_, headers: { authorization: "Basic abc" } })),
        ).toBe("ERR_AUTH_SCHEME");
      });

      it("server nonces: a proof without the nonce gets use_dpop_nonce and the nonce to use", async () => {
        const { d, v } = setup({ dpop: { nonce: true } });
        const token = d.token();
        const e = await v.verify(request(d, token)).catch((x: unknown) => x as VerificationError);
        expect(e).toMatchObject({ code: "ERR_USE_DPOP_NONCE", error: "use_dpop_nonce" });
        const nonce = (e as VerificationError).dpopNonce!;
        expect(challengeFor(e).headers["dpop-nonce"]).toBe(nonce);
        const proof = dpopProof(d.agentKey, {
          htm: "GET",
          htu: URL_,
          iat: Math.floor(d.clock.now / 1000),
          token,
          nonce,
        });
        await v.verify(request(d, token, { proof }));
      });

      it("insufficient scope: 403 with the scope in the challenge", async () => {
        const { d, v } = setup();
        const e = await v
          .verify(request(d, d.token({ scope: "read" })), { requiredScope: "write" })
          .catch((x: unknown) => x);
        const c = challengeFor(e);
        expect(c.status).toBe(403);
        expect(c.headers["www-authenticate"]).toContain('error="insufficient_scope"');
        expect(c.headers["www-authenticate"]).toContain('scope="write"');
      });
    });

    describe("verifier: garbage never crashes the host", () => {
      it("property: any Authorization and DPoP header values are refused with a VerificationError", async () => {
        const { d, v } = setup();
        const good = d.token();
        const part = fc.oneof(fc.string(), fc.base64String(), fc.constantFrom(good, ...good.split(".")));
        const header = fc.oneof(
          fc.string(),
          fc.tuple(fc.constantFrom("DPoP ", "Bearer ", "dpop  "), part).map(([a, b]) => a + b),
          fc.array(part, { minLength: 1, maxLength: 4 }).map((xs) => `DPoP ${xs.join(".")}`),
        );
        await fc.assert(
          fc.asyncProperty(header, fc.oneof(fc.string(), part), async (authorization, dpop) => {
            const req = { method: "GET", url: URL_, headers: { authorization, dpop } };
            const e = await v.verify(req).catch((x: unknown) => x);
            expect(e).toBeInstanceOf(VerificationError);
          }),
          { numRuns: 300 },
        );
      });

      it("random headers and tokens are refused with a VerificationError", async () => {
        const { d, v } = setup();
        const samples = [
          "DPoP",
          "DPoP ",
          "DPoP a.b",
          `DPoP ${"A".repeat(9000)}`,
          "DPoP e30.e30.e30",
          `DPoP ${Buffer.from("[]").toString("base64url")}.e30.AA`,
          `DPoP ${signJwt(d.issuerKey, { typ: "at+jwt", kid: d.issuerKey.kid, crit: ["b64"] }, {})}`,
        ];
        for (const authorization of samples) {
          const e = await v
            .verify({ method: "GET", url: URL_, headers: { authorization, dpop: "x" } })
            .catch((x: unknown) => x);
          expect(e).toBeInstanceOf(VerificationError);
        }
      });
    });

    it("ES256 (P-256) issuer keys verify; a P-256 token under an Ed25519 kid does not", async () => {
      const { d, v } = setup();
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const jwk = publicKey.export({ format: "jwk" });
      d.jwks.keys.push({ ...jwk, kid: "p256", alg: "ES256", use: "sig" });
      const es256 = (kid: string) => {
        const h = Buffer.from(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid })).toString("base64url");
        const p = d.token().split(".")[1];
        const sig = sign("sha256", Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
        return `${h}.${p}.${sig.toString("base64url")}`;
      };
      await v.verifyToken(es256("p256"), ELSEWHERE);
      expect(await refusal(v.verifyToken(es256(d.issuerKey.kid), ELSEWHERE))).toBe("ERR_TOKEN_SIGNATURE");
    });
  });
}
