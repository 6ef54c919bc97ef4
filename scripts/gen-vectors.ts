/**
 * Generates Deputy's conformance vectors for the token profile and delegation (spec/vectors/README.md).
 *
 * Every byte is derived from fixed seeds, so a run reproduces the checked-in files exactly; the
 * vectors test regenerates them in memory and fails on any drift. Expected outcomes are written
 * here by hand from the spec (DESIGN §4, the RFCs cited in each description), never computed by
 * calling the implementation under test: a behaviour change then shows up as a failing vector,
 * not as a silently regenerated file.
 *
 * Signatures: Ed25519 is deterministic (RFC 8032). ECDSA is randomized in `node:crypto`, so ES256
 * signatures here use deterministic nonces (RFC 6979 §3.2), which any ES256 verifier accepts;
 * the implementation is self-checked against RFC 6979 A.2.5 on every run.
 *
 * @example
 * npx tsx scripts/gen-vectors.ts          # rewrite spec/vectors/{tokens,delegation}/*.json
 * npx tsx scripts/gen-vectors.ts --check  # exit 1 if the checked-in files differ (CI)
 */
import { createECDH, createHash, createHmac, createPrivateKey, createPublicKey, sign } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// ---------------------------------------------------------------------------------------------
// Fixed inputs

const NOW = 1_750_000_000;
const ISSUER = "https://deputy.example";
const TOKEN_ENDPOINT = `${ISSUER}/oauth/token`;
const AUDIENCE = "https://api.example";
const RESOURCE_URL = `${AUDIENCE}/files/report.txt`;
/** Verifiers outside the issuer allow 5 s of skew (docs/decisions.md). */
const ACCESS_TOKEN_LEEWAY_SEC = 5;
const MAX_ACCESS_TOKEN_LENGTH = 8192;
const DPOP_MAX_AGE_SEC = 60;
const DPOP_FUTURE_SKEW_SEC = 5;
/** DESIGN §4: client assertions live at most 5 minutes. */
const ASSERTION_MAX_LIFETIME_SEC = 300;
const ASSERTION_SKEW_SEC = 30;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function sha256(data: string | Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

function b64u(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

/** Lowercase RFC 4648 base32, unpadded: the alphabet of Deputy ids (packages/protocol/src/ids.ts). */
function base32(bytes: Uint8Array): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

/** A well-formed Deputy id (prefix + 128 bits) derived from a label. */
function id(prefix: string, label: string): string {
  return `${prefix}_${base32(sha256(`deputy-vector-id:${label}`).subarray(0, 16))}`;
}

/** A deterministic `jti` for proofs and assertions (real ones are random). */
function jti(label: string): string {
  return b64u(sha256(`deputy-vector-jti:${label}`).subarray(0, 16));
}

const PRINCIPAL = id("prn", "principal-1");
const AGENT = id("agt", "agent-1");
const PARENT = id("agt", "agent-parent");
const STRANGER = id("agt", "agent-stranger");
const GRANT = id("grt", "grant-1");
const TOKEN_ID = id("tok", "token-1");

// ---------------------------------------------------------------------------------------------
// Keys and JWS

type PublicJwk =
  | { kty: "OKP"; crv: "Ed25519"; x: string }
  | { kty: "EC"; crv: "P-256"; x: string; y: string };

interface VectorKey {
  alg: "EdDSA" | "ES256";
  jwk: PublicJwk;
  /** The private JWK (only ever used by the `private-key-in-jwk-header` attack). */
  privateJwk: JsonObject;
  /** RFC 7638 thumbprint of {@link jwk}. */
  kid: string;
  sign(data: Buffer): Buffer;
}

/** RFC 7638 §3.2: required members only, in lexicographic order, no whitespace. */
function thumbprint(jwk: PublicJwk): string {
  const members =
    jwk.kty === "EC"
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return b64u(sha256(JSON.stringify(members)));
}

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** RFC 8032 §5.1.5: an Ed25519 private key is any 32 bytes; here SHA-256("deputy-vector-<label>"). */
function ed25519(label: string): VectorKey {
  const seed = sha256(`deputy-vector-${label}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const { x } = createPublicKey(privateKey).export({ format: "jwk" }) as { x: string };
  const jwk: PublicJwk = { kty: "OKP", crv: "Ed25519", x };
  return {
    alg: "EdDSA",
    jwk,
    privateJwk: { ...jwk, d: b64u(seed) },
    kid: thumbprint(jwk),
    sign: (data) => sign(null, data, privateKey),
  };
}

// P-256 (SEC 2 §2.4.2 / FIPS 186-4 D.1.2.3): only the group order is needed; node:crypto's ECDH
// computes k·G, so no curve arithmetic is written here.
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function int2octets(v: bigint): Buffer {
  return Buffer.from(v.toString(16).padStart(64, "0"), "hex");
}

function octets2int(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString("hex")}`);
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

/** x-coordinate of k·G. */
function p256BaseMultX(k: bigint): bigint {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(int2octets(k));
  return octets2int(ecdh.getPublicKey().subarray(1, 33));
}

/** RFC 6979 §3.2 candidate nonces for P-256 with SHA-256 (qlen = hlen = 256, so bits2int is identity). */
function* rfc6979Nonces(d: bigint, h1: Buffer): Generator<bigint> {
  const hmac = (key: Buffer, ...parts: Uint8Array[]) => {
    const h = createHmac("sha256", key);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const x = int2octets(d);
  const h = int2octets(octets2int(h1) % P256_N);
  let v = Buffer.alloc(32, 0x01);
  let k = Buffer.alloc(32, 0x00);
  k = hmac(k, v, Buffer.from([0x00]), x, h);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.from([0x01]), x, h);
  v = hmac(k, v);
  for (;;) {
    v = hmac(k, v);
    const candidate = octets2int(v);
    if (candidate >= 1n && candidate < P256_N) yield candidate;
    k = hmac(k, v, Buffer.from([0x00]));
    v = hmac(k, v);
  }
}

/** Deterministic ECDSA P-256/SHA-256 (RFC 6979), JOSE form R || S (RFC 7518 §3.4). */
function es256Deterministic(d: bigint, message: Uint8Array): Buffer {
  const h1 = sha256(message);
  const z = octets2int(h1) % P256_N;
  for (const k of rfc6979Nonces(d, h1)) {
    const r = p256BaseMultX(k) % P256_N;
    if (r === 0n) continue;
    const s = (modPow(k, P256_N - 2n, P256_N) * ((z + r * d) % P256_N)) % P256_N;
    if (s === 0n) continue;
    return Buffer.concat([int2octets(r), int2octets(s)]);
  }
  throw new Error("unreachable");
}

/** RFC 6979 A.2.5, P-256 with SHA-256, message "sample": guards the nonce derivation above. */
function selfCheckRfc6979(): void {
  const d = 0xc9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721n;
  const expected =
    "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716" +
    "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8";
  const got = es256Deterministic(d, Buffer.from("sample")).toString("hex");
  if (got !== expected) throw new Error(`RFC 6979 A.2.5 self-check failed: ${got}`);
}

/** A P-256 key whose scalar is derived from SHA-256("deputy-vector-<label>"), reduced into [1, n−1]. */
function p256(label: string): VectorKey {
  const seed = sha256(`deputy-vector-${label}`);
  const d = (octets2int(seed) % (P256_N - 1n)) + 1n;
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(int2octets(d));
  const point = ecdh.getPublicKey();
  const jwk: PublicJwk = {
    kty: "EC",
    crv: "P-256",
    x: b64u(point.subarray(1, 33)),
    y: b64u(point.subarray(33)),
  };
  return {
    alg: "ES256",
    jwk,
    privateJwk: { ...jwk, d: b64u(int2octets(d)) },
    kid: thumbprint(jwk),
    sign: (data) => es256Deterministic(d, data),
  };
}

function segment(value: Json): string {
  return b64u(JSON.stringify(value));
}

/** A compact JWS signed by `key`; the header is written exactly as given (alg included). */
function jws(header: JsonObject, payload: JsonObject, key: VectorKey): string {
  const input = `${segment(header)}.${segment(payload)}`;
  return `${input}.${b64u(key.sign(Buffer.from(input, "ascii")))}`;
}

/** Segments of a compact JWS, for the tampering attacks. */
function split(token: string): [string, string, string] {
  const [h, p, s] = token.split(".");
  if (h === undefined || p === undefined || s === undefined) throw new Error("not a compact JWS");
  return [h, p, s];
}

/** The same decoded bytes with the unused trailing bits set (RFC 4648 §3.5: non-canonical). */
function setTrailingBits(seg: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (seg.length % 4 !== 2) throw new Error("expected a segment of length 2 mod 4");
  const last = alphabet.indexOf(seg.slice(-1));
  return seg.slice(0, -1) + alphabet[last | 0x01];
}

function without(obj: JsonObject, ...names: string[]): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (!names.includes(k)) out[k] = v;
  return out;
}

function publicJwkEntry(key: VectorKey): JsonObject {
  return { ...key.jwk, kid: key.kid, alg: key.alg, use: "sig" };
}

const KEYS = {
  issuer: ed25519("issuer-1"),
  /** Signed tokens once; rotated out and no longer in the JWKS. */
  retiredIssuer: ed25519("issuer-0"),
  attacker: ed25519("attacker-1"),
  agent: ed25519("agent-1"),
  agentP256: p256("agent-p256-1"),
  dpop: ed25519("dpop-1"),
  dpopOther: ed25519("dpop-2"),
  dpopP256: p256("dpop-p256-1"),
};

// ---------------------------------------------------------------------------------------------
// Access tokens (RFC 9068 + RFC 8725, DESIGN §4)

type Expect = JsonObject;

function refused(code: string, reasonContains: string): Expect {
  return { valid: false, code, reason_contains: reasonContains };
}

function accessTokenClaims(overrides: JsonObject = {}): JsonObject {
  const claims: JsonObject = {
    iss: ISSUER,
    sub: PRINCIPAL,
    aud: AUDIENCE,
    client_id: AGENT,
    act: { sub: AGENT, act: { sub: PARENT } },
    scope: "files:read files:write",
    iat: NOW - 10,
    exp: NOW + 290,
    jti: TOKEN_ID,
    grant_id: GRANT,
    cnf: { jkt: KEYS.dpop.kid },
    status: { status_list: { idx: 7, uri: `${ISSUER}/v1/status/lists/0` } },
    // Issue 6: compact provenance of the acting agent (verified by a registered launcher, from a
    // statement bound to the agent's key).
    agent_prov: { verified: true, iss: "https://ci.example.com", code_digest: "sha256:5f1c0e", bound: true },
  };
  return { ...claims, ...overrides };
}

function atHeader(key: VectorKey = KEYS.issuer): JsonObject {
  return { typ: "at+jwt", alg: "EdDSA", kid: key.kid };
}

const VALID_ACCESS_TOKEN = jws(atHeader(), accessTokenClaims(), KEYS.issuer);

function accessTokenVectors(): JsonObject {
  const claims = accessTokenClaims();
  const valid = VALID_ACCESS_TOKEN;
  const [vh, vp, vs] = split(valid);
  const INVALID = "ERR_INVALID_TOKEN";
  const unsigned = (header: JsonObject, payload: JsonObject, signature: string) =>
    `${segment(header)}.${segment(payload)}.${signature}`;
  const flippedSig = Buffer.from(vs, "base64url");
  flippedSig[0] = (flippedSig[0] ?? 0) ^ 0x01;
  const jweHeader = { alg: "dir", enc: "A256GCM", typ: "at+jwt", kid: KEYS.issuer.kid };
  const jwe = [
    segment(jweHeader),
    "",
    b64u(sha256("deputy-vector-jwe-iv").subarray(0, 12)),
    b64u(Buffer.concat([sha256("deputy-vector-jwe-ct-1"), sha256("deputy-vector-jwe-ct-2")])),
    b64u(sha256("deputy-vector-jwe-tag").subarray(0, 16)),
  ].join(".");

  const vectors: JsonObject[] = [
    {
      name: "valid",
      description:
        "An EdDSA access token from the issuer's published key, DPoP-bound (cnf.jkt), acting agent with one parent: act = {sub: client_id, act: {sub: parent}}.",
      token: valid,
      expect: { valid: true, claims },
    },
    {
      name: "valid-typ-application-at-jwt",
      description:
        'RFC 7515 §4.1.9 / RFC 9068 §2.1: "application/at+jwt" is the same media type as "at+jwt" and is accepted.',
      token: jws({ ...atHeader(), typ: "application/at+jwt" }, claims, KEYS.issuer),
      expect: { valid: true, claims },
    },
    {
      name: "exp-within-leeway",
      description: "The valid token 4 s after exp: within the verifier's 5 s leeway, still accepted.",
      token: valid,
      now: NOW + 290 + 4,
      expect: { valid: true, claims },
    },
    {
      name: "expired-at-leeway-boundary",
      description: "The valid token exactly leeway (5 s) after exp: refused (exp must be > now − leeway).",
      token: valid,
      now: NOW + 290 + ACCESS_TOKEN_LEEWAY_SEC,
      expect: refused(INVALID, "has expired"),
    },
    {
      name: "alg-none",
      description:
        'RFC 8725 §2.1: an unsecured JWS (alg "none", empty signature) is never accepted; it fails before any key is looked up.',
      token: `${segment({ typ: "at+jwt", alg: "none", kid: KEYS.issuer.kid })}.${vp}.`,
      expect: refused(INVALID, "has an empty signature"),
    },
    {
      name: "alg-none-with-signature",
      description: 'alg "none" with a (copied) signature segment: refused by the algorithm allow-list.',
      token: unsigned({ typ: "at+jwt", alg: "none", kid: KEYS.issuer.kid }, claims, vs),
      expect: refused(INVALID, "alg is not allowed"),
    },
    {
      name: "alg-none-uppercase",
      description: 'alg "NONE": the allow-list compares exactly, so case variants of "none" are refused too.',
      token: unsigned({ typ: "at+jwt", alg: "NONE", kid: KEYS.issuer.kid }, claims, vs),
      expect: refused(INVALID, "alg is not allowed"),
    },
    {
      name: "hs256-with-public-key",
      description:
        "RFC 8725 §2.1 key confusion: HMAC-SHA256 keyed with the issuer's public key (SPKI PEM) under the issuer's kid. HMAC is not on the allow-list.",
      token: (() => {
        const pem = createPublicKey({ key: KEYS.issuer.jwk, format: "jwk" }).export({
          format: "pem",
          type: "spki",
        }) as string;
        const input = `${segment({ typ: "at+jwt", alg: "HS256", kid: KEYS.issuer.kid })}.${vp}`;
        return `${input}.${createHmac("sha256", pem).update(input).digest("base64url")}`;
      })(),
      expect: refused(INVALID, "alg is not allowed"),
    },
    {
      name: "alg-es256-with-eddsa-key",
      description:
        "RFC 8725 §3.1: the header says ES256 but the kid names the issuer's Ed25519 key. The key decides the algorithm, so the signature does not verify.",
      token: jws({ typ: "at+jwt", alg: "ES256", kid: KEYS.issuer.kid }, claims, KEYS.issuer),
      expect: refused(INVALID, "signature is invalid"),
    },
    {
      name: "unknown-kid",
      description: "Signed by a key the issuer never published, under that key's own kid.",
      token: jws(atHeader(KEYS.attacker), claims, KEYS.attacker),
      expect: refused(INVALID, "signed by an unknown key"),
    },
    {
      name: "missing-kid",
      description: "No kid: the verifier does not guess among published keys.",
      token: jws(without(atHeader(), "kid"), claims, KEYS.issuer),
      expect: refused(INVALID, "has no kid"),
    },
    {
      name: "kid-of-retired-key",
      description:
        "Signed by a former issuer key that rotation has since withdrawn from the JWKS (every token it signed has expired): resolveKey returns nothing, so it is refused.",
      token: jws(atHeader(KEYS.retiredIssuer), claims, KEYS.retiredIssuer),
      expect: refused(INVALID, "signed by an unknown key"),
    },
    {
      name: "typ-jwt-instead-of-at-jwt",
      description:
        'RFC 9068 §4 / RFC 8725 §3.11: a correctly signed issuer JWT with typ "JWT" is not an access token.',
      token: jws({ ...atHeader(), typ: "JWT" }, claims, KEYS.issuer),
      expect: refused(INVALID, 'typ must be "at+jwt"'),
    },
    {
      name: "missing-typ",
      description: "RFC 9068 §4: explicit typing is required; no typ is refused.",
      token: jws(without(atHeader(), "typ"), claims, KEYS.issuer),
      expect: refused(INVALID, 'typ must be "at+jwt"'),
    },
    {
      name: "expired",
      description: "exp one minute in the past (beyond the 5 s leeway).",
      token: jws(atHeader(), accessTokenClaims({ iat: NOW - 360, exp: NOW - 60 }), KEYS.issuer),
      expect: refused(INVALID, "has expired"),
    },
    {
      name: "not-yet-valid-iat",
      description: "iat one minute in the future (beyond the leeway): a token from the future is refused.",
      token: jws(atHeader(), accessTokenClaims({ iat: NOW + 60, exp: NOW + 360 }), KEYS.issuer),
      expect: refused(INVALID, "iat is in the future"),
    },
    {
      name: "not-yet-valid-nbf",
      description: "RFC 7519 §4.1.5: nbf one minute in the future (beyond the leeway).",
      token: jws(atHeader(), accessTokenClaims({ nbf: NOW + 60 }), KEYS.issuer),
      expect: refused(INVALID, "is not yet valid"),
    },
    {
      name: "wrong-audience",
      description: "RFC 9068 §4: a token minted for another resource is refused by this one.",
      token: jws(atHeader(), accessTokenClaims({ aud: "https://other.example" }), KEYS.issuer),
      expect: refused(INVALID, "meant for another audience"),
    },
    {
      name: "aud-array",
      description:
        'aud as an array containing this resource. RFC 7519 allows arrays, but Deputy mints exactly one audience per token (docs/decisions.md "One resource per token"), so the profile refuses it.',
      token: jws(atHeader(), accessTokenClaims({ aud: [AUDIENCE] }), KEYS.issuer),
      expect: refused(INVALID, "aud must be a single string"),
    },
    {
      name: "wrong-issuer",
      description:
        "Signed with the issuer's key but iss names another issuer: iss must equal the issuer exactly.",
      token: jws(atHeader(), accessTokenClaims({ iss: "https://evil.example" }), KEYS.issuer),
      expect: refused(INVALID, "issued by another issuer"),
    },
    {
      name: "tampered-payload",
      description: 'The valid token with its payload re-encoded to add scope "admin", signature unchanged.',
      token: `${vh}.${segment(accessTokenClaims({ scope: "files:read files:write admin" }))}.${vs}`,
      expect: refused(INVALID, "signature is invalid"),
    },
    {
      name: "tampered-signature",
      description: "The valid token with one bit of the signature flipped (still canonical base64url).",
      token: `${vh}.${vp}.${b64u(flippedSig)}`,
      expect: refused(INVALID, "signature is invalid"),
    },
    {
      name: "jwe-not-jws",
      description: "A five-segment JWE (RFC 7516 compact form): access tokens are signed, never encrypted.",
      token: jwe,
      expect: refused(INVALID, "is a JWE, not a JWS"),
    },
    {
      name: "crit-header",
      description:
        "RFC 7515 §4.1.11: a crit header names an extension the verifier must understand; Deputy understands none, so it is refused even though the signature is good.",
      token: jws({ ...atHeader(), crit: ["urn:example:ext"], "urn:example:ext": true }, claims, KEYS.issuer),
      expect: refused(INVALID, "crit"),
    },
    {
      name: "missing-client-id",
      description: "DESIGN §4: client_id (the acting agent) is required.",
      token: jws(atHeader(), without(claims, "client_id"), KEYS.issuer),
      expect: refused(INVALID, "has no client_id"),
    },
    {
      name: "missing-act",
      description: "DESIGN §4: act (RFC 8693 §4.1 actor chain) is required on every Deputy token.",
      token: jws(atHeader(), without(claims, "act"), KEYS.issuer),
      expect: refused(INVALID, "act must be an object with a string sub"),
    },
    {
      name: "missing-grant-id",
      description: "DESIGN §4: grant_id (the grant the token was minted from) is required.",
      token: jws(atHeader(), without(claims, "grant_id"), KEYS.issuer),
      expect: refused(INVALID, "has no grant_id"),
    },
    {
      name: "oversized-token",
      description: `A correctly signed token longer than ${MAX_ACCESS_TOKEN_LENGTH} characters is refused before it is decoded.`,
      token: jws(
        atHeader(),
        accessTokenClaims({ padding: "A".repeat(MAX_ACCESS_TOKEN_LENGTH) }),
        KEYS.issuer,
      ),
      expect: refused(INVALID, `longer than ${MAX_ACCESS_TOKEN_LENGTH} characters`),
    },
    {
      name: "non-canonical-base64url",
      description:
        "RFC 4648 §3.5 / RFC 7515 §2: the valid token with the unused trailing bits of the signature's last character set. Lenient decoders read the same bytes; Deputy compares and caches tokens as strings, so only the canonical encoding is accepted.",
      token: `${vh}.${vp}.${setTrailingBits(vs)}`,
      expect: refused(INVALID, "signature is not canonical base64url"),
    },
    {
      name: "padded-base64url",
      description: 'RFC 7515 §2: base64url in JOSE has no "=" padding.',
      token: `${vh}.${vp}.${vs}==`,
      expect: refused(INVALID, "characters outside base64url"),
    },
  ];
  return {
    description:
      "RFC 9068 access tokens as Deputy issues them (DESIGN §4). Verify each token against issuer, jwks, audience, now and leeway_sec (a vector's own now/audience override them). See spec/vectors/README.md.",
    issuer: ISSUER,
    jwks: { keys: [publicJwkEntry(KEYS.issuer)] },
    now: NOW,
    audience: AUDIENCE,
    leeway_sec: ACCESS_TOKEN_LEEWAY_SEC,
    vectors,
  };
}

// ---------------------------------------------------------------------------------------------
// DPoP proofs (RFC 9449)

function ath(accessToken: string): string {
  return b64u(sha256(accessToken));
}

function dpopProof(
  key: VectorKey,
  claims: JsonObject,
  header: { typ?: Json; alg?: Json; jwk?: Json } = {},
  signer: VectorKey = key,
): string {
  return jws({ typ: "dpop+jwt", alg: key.alg, jwk: key.jwk, ...header }, claims, signer);
}

function dpopClaims(label: string, overrides: JsonObject = {}): JsonObject {
  return { jti: jti(`dpop-${label}`), htm: "POST", htu: TOKEN_ENDPOINT, iat: NOW, ...overrides };
}

function dpopVectors(): JsonObject {
  const INVALID = "ERR_INVALID_DPOP_PROOF";
  const tokenCheck: JsonObject = { htm: "POST", htu: TOKEN_ENDPOINT };
  const resourceCheck: JsonObject = {
    htm: "GET",
    htu: RESOURCE_URL,
    access_token: VALID_ACCESS_TOKEN,
    expected_jkt: KEYS.dpop.kid,
  };
  const resourceClaims = (label: string, overrides: JsonObject = {}) =>
    dpopClaims(label, { htm: "GET", htu: RESOURCE_URL, ath: ath(VALID_ACCESS_TOKEN), ...overrides });
  const ok = (key: VectorKey, claims: JsonObject): Expect => ({
    valid: true,
    jkt: key.kid,
    jti: claims.jti ?? null,
    iat: claims.iat ?? null,
  });
  const vector = (
    name: string,
    description: string,
    proof: string,
    check: JsonObject,
    expect: Expect,
  ): JsonObject => ({ name, description, proof, check, expect });

  const valid = dpopClaims("valid");
  const validEs = dpopClaims("valid-es256");
  const withAth = resourceClaims("valid-ath");
  const withNonce = dpopClaims("valid-nonce", { nonce: "n-4f1c2a0b" });
  const replayed = dpopClaims("replayed");
  const sameHtu = (label: string, htu: string) => dpopClaims(label, { htu });
  const queryHtu = sameHtu("htu-query", `${TOKEN_ENDPOINT}?foo=bar#frag`);
  const portHtu = sameHtu("htu-port", "https://deputy.example:443/oauth/token");
  const caseHtu = sameHtu("htu-case", "HTTPS://DEPUTY.Example/oauth/token");
  const emptyPath = dpopClaims("htu-empty-path", { htu: "https://deputy.example" });
  const pctHtu = sameHtu("htu-pct", "https://deputy.example/oauth/%74oken");
  const iatEdge = dpopClaims("iat-at-max-age", { iat: NOW - DPOP_MAX_AGE_SEC });

  const vectors: JsonObject[] = [
    vector(
      "valid",
      "An Ed25519 proof for POST to the token endpoint (RFC 9449 §4.2); jkt is the RFC 7638 thumbprint of the header jwk.",
      dpopProof(KEYS.dpop, valid),
      tokenCheck,
      ok(KEYS.dpop, valid),
    ),
    vector(
      "valid-es256",
      "The same with a P-256 key (ES256, RFC 6979 deterministic signature).",
      dpopProof(KEYS.dpopP256, validEs),
      tokenCheck,
      ok(KEYS.dpopP256, validEs),
    ),
    vector(
      "valid-with-ath",
      "RFC 9449 §7: a proof sent with the access token of access-token.json (cnf.jkt = this key) to the resource; ath = base64url(SHA-256(token)).",
      dpopProof(KEYS.dpop, withAth),
      resourceCheck,
      ok(KEYS.dpop, withAth),
    ),
    vector(
      "valid-with-nonce",
      "RFC 9449 §8: the proof carries the nonce the server asked for.",
      dpopProof(KEYS.dpop, withNonce),
      { ...tokenCheck, nonce: "n-4f1c2a0b" },
      ok(KEYS.dpop, withNonce),
    ),
    {
      ...vector(
        "replayed",
        "RFC 9449 §11.1: a valid proof presented twice. The pure check accepts it both times; the server must consume its jti once, scoped to the key, for at least max_age_sec + future_skew_sec after iat, and refuse the second use.",
        dpopProof(KEYS.dpop, replayed),
        tokenCheck,
        ok(KEYS.dpop, replayed),
      ),
      requires_store: true,
      store: {
        consume_key: `dpop:${KEYS.dpop.kid}:${replayed.jti}`,
        remember_until: NOW + DPOP_MAX_AGE_SEC + DPOP_FUTURE_SKEW_SEC,
        first_use: true,
        second_use: false,
        on_replay: refused(INVALID, "jti was already used"),
      },
    },
    vector(
      "htu-with-query-ignored",
      "RFC 9449 §4.3 step 9: query and fragment are ignored when comparing htu.",
      dpopProof(KEYS.dpop, queryHtu),
      tokenCheck,
      ok(KEYS.dpop, queryHtu),
    ),
    vector(
      "htu-normalisation-default-port",
      "RFC 3986 §6.2.3: an explicit default port (:443 for https) is the same URI.",
      dpopProof(KEYS.dpop, portHtu),
      tokenCheck,
      ok(KEYS.dpop, portHtu),
    ),
    vector(
      "htu-normalisation-scheme-host-case",
      "RFC 3986 §6.2.2.1: scheme and host compare case-insensitively.",
      dpopProof(KEYS.dpop, caseHtu),
      tokenCheck,
      ok(KEYS.dpop, caseHtu),
    ),
    vector(
      "htu-normalisation-empty-path",
      'RFC 3986 §6.2.3: an empty path equals "/".',
      dpopProof(KEYS.dpop, emptyPath),
      { htm: "POST", htu: "https://deputy.example/" },
      ok(KEYS.dpop, emptyPath),
    ),
    vector(
      "htu-normalisation-percent-encoding",
      'RFC 3986 §6.2.2.2: a percent-encoded unreserved character ("%74" = "t") equals the character.',
      dpopProof(KEYS.dpop, pctHtu),
      tokenCheck,
      ok(KEYS.dpop, pctHtu),
    ),
    vector(
      "iat-at-max-age",
      "iat exactly max_age_sec (60 s) before now: still inside the acceptance window.",
      dpopProof(KEYS.dpop, iatEdge),
      tokenCheck,
      ok(KEYS.dpop, iatEdge),
    ),
    vector(
      "wrong-htm",
      "A proof made for GET presented on a POST.",
      dpopProof(KEYS.dpop, dpopClaims("wrong-htm", { htm: "GET" })),
      tokenCheck,
      refused(INVALID, "htm does not match"),
    ),
    vector(
      "htm-lowercase",
      'RFC 9110 §9.1: methods are case-sensitive; "post" is not "POST".',
      dpopProof(KEYS.dpop, dpopClaims("htm-lowercase", { htm: "post" })),
      tokenCheck,
      refused(INVALID, "htm does not match"),
    ),
    vector(
      "wrong-htu",
      "A proof made for the introspection endpoint presented at the token endpoint.",
      dpopProof(KEYS.dpop, dpopClaims("wrong-htu", { htu: `${ISSUER}/oauth/introspect` })),
      tokenCheck,
      refused(INVALID, "htu does not match"),
    ),
    vector(
      "htu-path-case-differs",
      "RFC 3986 §6.2.2.1: the path is case-sensitive.",
      dpopProof(KEYS.dpop, dpopClaims("htu-path-case", { htu: `${ISSUER}/OAuth/Token` })),
      tokenCheck,
      refused(INVALID, "htu does not match"),
    ),
    vector(
      "htu-other-port",
      "A non-default port is a different origin.",
      dpopProof(KEYS.dpop, dpopClaims("htu-other-port", { htu: "https://deputy.example:8443/oauth/token" })),
      tokenCheck,
      refused(INVALID, "htu does not match"),
    ),
    vector(
      "htu-other-scheme",
      "http is not https.",
      dpopProof(KEYS.dpop, dpopClaims("htu-other-scheme", { htu: "http://deputy.example/oauth/token" })),
      tokenCheck,
      refused(INVALID, "htu does not match"),
    ),
    vector(
      "stale-iat",
      "RFC 9449 §11.1: iat 61 s before now, outside the 60 s acceptance window.",
      dpopProof(KEYS.dpop, dpopClaims("stale-iat", { iat: NOW - DPOP_MAX_AGE_SEC - 1 })),
      tokenCheck,
      refused(INVALID, "iat is too old"),
    ),
    vector(
      "future-iat",
      "iat 6 s after now, beyond the 5 s allowed for clock skew.",
      dpopProof(KEYS.dpop, dpopClaims("future-iat", { iat: NOW + DPOP_FUTURE_SKEW_SEC + 1 })),
      tokenCheck,
      refused(INVALID, "iat is in the future"),
    ),
    vector(
      "typ-jwt",
      'RFC 9449 §4.3 step 4: typ must be "dpop+jwt".',
      dpopProof(KEYS.dpop, dpopClaims("typ-jwt"), { typ: "JWT" }),
      tokenCheck,
      refused(INVALID, 'typ must be "dpop+jwt"'),
    ),
    vector(
      "alg-none",
      "RFC 9449 §4.3 step 5 / RFC 8725 §2.1: an unsecured proof.",
      `${segment({ typ: "dpop+jwt", alg: "none", jwk: KEYS.dpop.jwk })}.${segment(dpopClaims("alg-none"))}.`,
      tokenCheck,
      refused(INVALID, "has an empty signature"),
    ),
    vector(
      "alg-does-not-match-jwk",
      "alg ES256 with an Ed25519 jwk: the key type decides the algorithm.",
      dpopProof(KEYS.dpop, dpopClaims("alg-mismatch"), { alg: "ES256" }),
      tokenCheck,
      refused(INVALID, "alg does not match its jwk"),
    ),
    vector(
      "private-key-in-jwk-header",
      'RFC 9449 §4.3 step 7: the jwk header carries the private member "d"; refused whatever the signature.',
      dpopProof(KEYS.dpop, dpopClaims("private-jwk"), { jwk: KEYS.dpop.privateJwk }),
      tokenCheck,
      refused(INVALID, 'private member "d"'),
    ),
    vector(
      "signed-by-other-key",
      "The header jwk names one key but another key made the signature.",
      dpopProof(KEYS.dpop, dpopClaims("other-key"), {}, KEYS.dpopOther),
      tokenCheck,
      refused(INVALID, "signature is invalid"),
    ),
    vector(
      "ath-mismatch",
      "RFC 9449 §4.3 step 10: ath is the hash of a different access token.",
      dpopProof(KEYS.dpop, resourceClaims("ath-mismatch", { ath: ath(`${VALID_ACCESS_TOKEN}x`) })),
      resourceCheck,
      refused(INVALID, "ath does not match"),
    ),
    vector(
      "ath-missing",
      "A proof presented with an access token must carry ath.",
      dpopProof(KEYS.dpop, without(resourceClaims("ath-missing"), "ath")),
      resourceCheck,
      refused(INVALID, "has no ath"),
    ),
    vector(
      "missing-jti",
      "RFC 9449 §4.2: jti is required (it is what the server remembers against replay).",
      dpopProof(KEYS.dpop, without(dpopClaims("missing-jti"), "jti")),
      tokenCheck,
      refused(INVALID, "has no jti"),
    ),
    vector(
      "jkt-mismatch",
      "RFC 9449 §7.1: a well-formed proof with ath, but by a key other than the one the access token is bound to (cnf.jkt).",
      dpopProof(KEYS.dpopOther, resourceClaims("jkt-mismatch")),
      resourceCheck,
      refused(INVALID, "not the key the access token is bound to"),
    ),
    vector(
      "nonce-missing",
      "RFC 9449 §8: the server requires a nonce and the proof has none; the client gets use_dpop_nonce and retries.",
      dpopProof(KEYS.dpop, dpopClaims("nonce-missing")),
      { ...tokenCheck, nonce: "n-4f1c2a0b" },
      refused("ERR_USE_DPOP_NONCE", "nonce is missing or stale"),
    ),
    vector(
      "nonce-stale",
      "RFC 9449 §8: the proof carries an earlier nonce.",
      dpopProof(KEYS.dpop, dpopClaims("nonce-stale", { nonce: "n-00000000" })),
      { ...tokenCheck, nonce: "n-4f1c2a0b" },
      refused("ERR_USE_DPOP_NONCE", "nonce is missing or stale"),
    ),
    vector(
      "multiple-proofs",
      'RFC 9449 §4.3 step 1: exactly one DPoP header. Two header fields reach the server joined by ", ".',
      `${dpopProof(KEYS.dpop, dpopClaims("multi-1"))}, ${dpopProof(KEYS.dpop, dpopClaims("multi-2"))}`,
      tokenCheck,
      refused(INVALID, "more than one DPoP proof"),
    ),
  ];
  return {
    description:
      "RFC 9449 DPoP proofs. Check each proof against its check (htm, htu and the optional access_token, expected_jkt, nonce) at now, with max_age_sec and future_skew_sec. See spec/vectors/README.md.",
    now: NOW,
    max_age_sec: DPOP_MAX_AGE_SEC,
    future_skew_sec: DPOP_FUTURE_SKEW_SEC,
    vectors,
  };
}

// ---------------------------------------------------------------------------------------------
// Client assertions (RFC 7523 private_key_jwt, DESIGN §4)

function assertionClaims(label: string, overrides: JsonObject = {}): JsonObject {
  return {
    iss: AGENT,
    sub: AGENT,
    aud: TOKEN_ENDPOINT,
    jti: jti(`ca-${label}`),
    iat: NOW,
    exp: NOW + 60,
    ...overrides,
  };
}

function assertion(key: VectorKey, claims: JsonObject, header: JsonObject = {}): string {
  return jws({ alg: key.alg, typ: "JWT", kid: key.kid, ...header }, claims, key);
}

function clientAssertionVectors(): JsonObject {
  const INVALID = "ERR_INVALID_CLIENT";
  const ok = (key: VectorKey, claims: JsonObject): Expect => ({
    valid: true,
    agent_id: AGENT,
    jti: claims.jti ?? null,
    exp: claims.exp ?? null,
    kid: key.kid,
  });
  const valid = assertionClaims("valid");
  const validEs = assertionClaims("valid-es256");
  const validIssuerAud = assertionClaims("valid-aud-issuer", { aud: ISSUER });
  const noKid = assertionClaims("valid-no-kid");
  const replayed = assertionClaims("replayed");
  const malformed = "agt_NOT-A-VALID-ID";

  const vectors: JsonObject[] = [
    {
      name: "valid",
      description:
        "RFC 7523 §3: signed by the agent's registered Ed25519 key, iss = sub = agent id, aud = token endpoint, exp one minute away.",
      assertion: assertion(KEYS.agent, valid),
      expect: ok(KEYS.agent, valid),
    },
    {
      name: "valid-es256",
      description: "Signed by the agent's registered P-256 key (RFC 6979 deterministic ES256).",
      assertion: assertion(KEYS.agentP256, validEs),
      expect: ok(KEYS.agentP256, validEs),
    },
    {
      name: "valid-aud-issuer",
      description: "DESIGN §4: aud may be the issuer instead of the token endpoint.",
      assertion: assertion(KEYS.agent, validIssuerAud),
      expect: ok(KEYS.agent, validIssuerAud),
    },
    {
      name: "valid-no-kid",
      description: "No kid: the registered keys of the header's alg are tried.",
      assertion: jws({ alg: "EdDSA", typ: "JWT" }, noKid, KEYS.agent),
      expect: ok(KEYS.agent, noKid),
    },
    {
      name: "replayed",
      description:
        "RFC 7523 §3 item 7: a valid assertion presented twice. The pure check accepts it both times; the server must consume its jti once, scoped to the agent, until exp + skew_sec, and refuse the second use.",
      assertion: assertion(KEYS.agent, replayed),
      expect: ok(KEYS.agent, replayed),
      requires_store: true,
      store: {
        consume_key: `ca:${AGENT}:${replayed.jti}`,
        remember_until: NOW + 60 + ASSERTION_SKEW_SEC,
        first_use: true,
        second_use: false,
        on_replay: refused(INVALID, "jti was already used"),
      },
    },
    {
      name: "expired",
      description: "exp one minute ago (beyond the 30 s skew).",
      assertion: assertion(KEYS.agent, assertionClaims("expired", { iat: NOW - 120, exp: NOW - 60 })),
      expect: refused(INVALID, "has expired"),
    },
    {
      name: "too-long-lived",
      description: "DESIGN §4: exp at most 5 minutes away; this one lives an hour.",
      assertion: assertion(KEYS.agent, assertionClaims("too-long-lived", { exp: NOW + 3600 })),
      expect: refused(INVALID, `lives longer than ${ASSERTION_MAX_LIFETIME_SEC} seconds`),
    },
    {
      name: "wrong-aud",
      description: "RFC 7523 §3 item 3: aud names a resource, not this authorization server.",
      assertion: assertion(KEYS.agent, assertionClaims("wrong-aud", { aud: AUDIENCE })),
      expect: refused(INVALID, "aud is not this server"),
    },
    {
      name: "iss-ne-sub",
      description: "RFC 7523 §3 items 1–2: for client authentication iss and sub are both the client.",
      assertion: assertion(KEYS.agent, assertionClaims("iss-ne-sub", { sub: STRANGER })),
      expect: refused(INVALID, "sub must equal iss"),
    },
    {
      name: "unregistered-key",
      description: "Signed by a key that is not registered for this agent, under that key's own kid.",
      assertion: assertion(KEYS.attacker, assertionClaims("unregistered-key")),
      expect: refused(INVALID, "signed by an unregistered key"),
    },
    {
      name: "unregistered-key-without-kid",
      description:
        "Signed by an unregistered Ed25519 key without a kid: the registered Ed25519 key does not verify it.",
      assertion: jws({ alg: "EdDSA", typ: "JWT" }, assertionClaims("unregistered-no-kid"), KEYS.attacker),
      expect: refused(INVALID, "signature is invalid"),
    },
    {
      name: "alg-none",
      description: "RFC 8725 §2.1: an unsecured JWT with an empty signature.",
      assertion: `${segment({ alg: "none", typ: "JWT" })}.${segment(assertionClaims("alg-none"))}.`,
      expect: refused(INVALID, "has an empty signature"),
    },
    {
      name: "alg-none-with-signature",
      description:
        'alg "none" with a signature segment copied from a valid assertion: refused by the allow-list.',
      assertion: `${segment({ alg: "none", typ: "JWT", kid: KEYS.agent.kid })}.${segment(
        assertionClaims("alg-none-sig"),
      )}.${split(assertion(KEYS.agent, valid))[2]}`,
      expect: refused(INVALID, "alg is not allowed"),
    },
    {
      name: "typ-at-jwt-confusion",
      description:
        'RFC 8725 §3.11: a JWT signed by the agent but typed "at+jwt" must not be accepted as its assertion (nor anything typed as another Deputy JWT kind).',
      assertion: assertion(KEYS.agent, assertionClaims("typ-at-jwt"), { typ: "at+jwt" }),
      expect: refused(INVALID, "must not be a at+jwt token"),
    },
    {
      name: "access-token-as-assertion",
      description:
        "The access token of access-token.json presented as a client assertion: its iss is the issuer, not an agent.",
      assertion: VALID_ACCESS_TOKEN,
      expect: refused(INVALID, "iss must be an agent id"),
    },
    {
      name: "malformed-agent-id",
      description: "iss = sub but not a well-formed agent id (agt_ + 26 lowercase base32 characters).",
      assertion: assertion(KEYS.agent, assertionClaims("malformed-id", { iss: malformed, sub: malformed })),
      expect: refused(INVALID, "iss must be an agent id"),
    },
    {
      name: "missing-jti",
      description: "RFC 7523 §3 item 7: jti is what makes the assertion single-use.",
      assertion: assertion(KEYS.agent, without(assertionClaims("missing-jti"), "jti")),
      expect: refused(INVALID, "has no jti"),
    },
  ];
  return {
    description:
      "RFC 7523 private_key_jwt client assertions (DESIGN §4). Verify each against the agent's registered keys, audiences, now, max_lifetime_sec and skew_sec. See spec/vectors/README.md.",
    issuer: ISSUER,
    token_endpoint: TOKEN_ENDPOINT,
    audiences: [ISSUER, TOKEN_ENDPOINT],
    now: NOW,
    max_lifetime_sec: ASSERTION_MAX_LIFETIME_SEC,
    skew_sec: ASSERTION_SKEW_SEC,
    agent: { id: AGENT, jwks: { keys: [publicJwkEntry(KEYS.agent), publicJwkEntry(KEYS.agentP256)] } },
    vectors,
  };
}

// ---------------------------------------------------------------------------------------------
// Attenuation (packages/protocol/src/delegation.ts)

const T = (NOW + 3600) * 1000;
const API = AUDIENCE;
const MAIL = "https://mail.example";

function authority(
  scopes: string[],
  resources: string[],
  expiresAt: number,
  depthRemaining: number,
): JsonObject {
  return { scopes, resources, expiresAt, depthRemaining };
}

function attenuationVectors(): JsonObject {
  const parent = authority(["files:read", "files:write"], [API], T, 2);
  const child = (a: JsonObject): Expect => ({ ok: true, child: a });
  const no = (code: string, reasonContains: string): Expect => ({
    ok: false,
    code,
    reason_contains: reasonContains,
  });
  const root = authority(["files:read", "files:write", "mail:send"], [API, MAIL], T, 4);
  const hop1 = authority(["files:read", "files:write"], [API], T, 3);
  const hop2 = authority(["files:read"], [API], T - 600_000, 2);
  const hop3 = authority(["files:read"], [API], T - 600_000, 1);
  const hop4 = authority(["files:read"], [API], T - 900_000, 0);
  const fourHops: JsonObject[] = [
    { request: { scopes: ["files:read", "files:write"], resources: [API] }, expect: child(hop1) },
    { request: { scopes: ["files:read"], expiresAt: T - 600_000 }, expect: child(hop2) },
    { request: {}, expect: child(hop3) },
    { request: { expiresAt: T - 900_000 }, expect: child(hop4) },
  ];
  return {
    description:
      "attenuate(parent, request): a child authority one delegation hop below its parent; nothing widens. Authorities use the field names of the protocol's Authority type (expiresAt in epoch milliseconds). A vector with steps applies them in order, each step's parent being the previous step's child. See spec/vectors/README.md.",
    max_delegation_depth: 4,
    vectors: [
      {
        name: "narrower-scope",
        description: "A subset of the parent's scopes; depth defaults to one less than the parent's.",
        parent,
        request: { scopes: ["files:read"] },
        expect: child(authority(["files:read"], [API], T, 1)),
      },
      {
        name: "same-scope-default",
        description: "An empty request inherits the parent's scopes, resources and expiry.",
        parent,
        request: {},
        expect: child(authority(["files:read", "files:write"], [API], T, 1)),
      },
      {
        name: "earlier-expiry-and-depth-zero",
        description: "A shorter life and no further delegation are always allowed.",
        parent,
        request: { expiresAt: T - 1, depthRemaining: 0 },
        expect: child(authority(["files:read", "files:write"], [API], T - 1, 0)),
      },
      {
        name: "widened-scope",
        description: "Asks for a scope the parent does not hold.",
        parent,
        request: { scopes: ["files:read", "admin"] },
        expect: no("ERR_DELEGATION_WIDENS_SCOPE", "admin"),
      },
      {
        name: "widened-scope-case",
        description: 'RFC 6749 §3.3: scopes are case-sensitive, so "FILES:READ" is not "files:read".',
        parent,
        request: { scopes: ["FILES:READ"] },
        expect: no("ERR_DELEGATION_WIDENS_SCOPE", "FILES:READ"),
      },
      {
        name: "widened-resource",
        description: "Asks for an audience the parent does not hold.",
        parent,
        request: { resources: [API, MAIL] },
        expect: no("ERR_DELEGATION_WIDENS_RESOURCE", MAIL),
      },
      {
        name: "widened-resource-trailing-slash",
        description: "Audiences compare as exact strings: a trailing slash names another resource.",
        parent,
        request: { resources: [`${API}/`] },
        expect: no("ERR_DELEGATION_WIDENS_RESOURCE", `${API}/`),
      },
      {
        name: "outlives-parent",
        description: "An expiry one millisecond after the parent's.",
        parent,
        request: { expiresAt: T + 1 },
        expect: no("ERR_DELEGATION_OUTLIVES_PARENT", "later than the parent"),
      },
      {
        name: "depth-exhausted",
        description: "The parent may not delegate at all (depthRemaining 0).",
        parent: authority(["files:read"], [API], T, 0),
        request: { scopes: ["files:read"] },
        expect: no("ERR_DELEGATION_DEPTH_EXCEEDED", "no further delegation"),
      },
      {
        name: "depth-widened",
        description: "The child asks to delegate as deep as its parent: at most parent − 1.",
        parent,
        request: { depthRemaining: 2 },
        expect: no("ERR_DELEGATION_DEPTH_EXCEEDED", "at most 1"),
      },
      {
        name: "negative-depth",
        description: "A negative depth is not a way around the limit.",
        parent,
        request: { depthRemaining: -1 },
        expect: no("ERR_DELEGATION_DEPTH_EXCEEDED", "at most 1"),
      },
      {
        name: "chain-of-four",
        description:
          "Four hops below a root grant at the maximum depth (4), narrowing as they go; the last child cannot delegate further.",
        parent: root,
        steps: fourHops,
      },
      {
        name: "chain-of-five-refused",
        description:
          "The same four hops, then a fifth: refused, because the fourth child has depthRemaining 0.",
        parent: root,
        steps: [
          ...fourHops,
          { request: {}, expect: no("ERR_DELEGATION_DEPTH_EXCEEDED", "no further delegation") },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Actor chains (RFC 8693 §4.1 act claims)

type Act = { sub: string; act?: Act };

/** Written out independently of the protocol's actorClaim(): the acting agent outermost. */
function nest(subs: string[]): Act {
  const [first, ...rest] = subs;
  if (first === undefined) throw new Error("empty chain");
  return rest.length === 0 ? { sub: first } : { sub: first, act: nest(rest) };
}

function actorChainVectors(): JsonObject {
  const a1 = id("agt", "chain-1");
  const a2 = id("agt", "chain-2");
  const a3 = id("agt", "chain-3");
  const a4 = id("agt", "chain-4");
  const a5 = id("agt", "chain-5");
  const honest = (name: string, description: string, chain: string[]): JsonObject => ({
    name,
    description,
    client_id: a5,
    registered_chain: chain,
    act: nest([a5, ...chain]) as unknown as Json,
    expect: { chain: [a5, ...chain], matches_registered_chain: true },
  });
  const attack = (name: string, description: string, chain: string[], subs: string[]): JsonObject => ({
    name,
    description,
    client_id: a5,
    registered_chain: chain,
    act: nest(subs) as unknown as Json,
    expect: { chain: subs, matches_registered_chain: false },
  });
  return {
    description:
      "act claims (RFC 8693 §4.1) and Deputy's actor chains. actorClaim(client_id, registered_chain) builds act; actorChain(act) flattens it to expect.chain. A verifier that knows the agent's registered parents must check that actorChain(act) equals [client_id, ...registered_chain] (nearest parent first): same length, same order, exact strings. See spec/vectors/README.md.",
    rule: "actorChain(act) == [client_id, ...registered_chain]",
    vectors: [
      honest("root-agent", "An agent with no parent: act = {sub: client_id}.", []),
      honest("one-parent", "act = {sub: client_id, act: {sub: parent}}.", [a4]),
      honest("two-parents", "Nearest parent first, then the grandparent.", [a4, a3]),
      honest("four-parents", "The deepest chain Deputy allows (max_delegation_depth 4).", [a4, a3, a2, a1]),
      attack(
        "reordered-chain",
        "The parent and the grandparent swapped in the nesting. act.sub is still client_id and the same agents appear, so a verifier that only checks act.sub, or compares the chain as a set, is fooled; the ordered comparison is not.",
        [a4, a3],
        [a5, a3, a4],
      ),
      attack(
        "reordered-chain-acting-agent-swapped",
        "Child and parent swapped: the parent appears as the acting agent and the real acting agent as its parent.",
        [a4, a3],
        [a4, a5, a3],
      ),
      attack(
        "truncated-chain",
        "The grandparent left out: hides who the authority came from.",
        [a4, a3],
        [a5, a4],
      ),
      attack("extended-chain", "An extra actor above the real root.", [a4, a3], [a5, a4, a3, a2]),
      attack(
        "act-sub-is-not-client-id",
        "The outermost act names another agent than client_id.",
        [a4, a3],
        [a2, a4, a3],
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Vector files by path relative to the repository root, in a fixed order. Pure: writes nothing. */
export function generate(): Record<string, unknown> {
  selfCheckRfc6979();
  return {
    "spec/vectors/tokens/access-token.json": accessTokenVectors(),
    "spec/vectors/tokens/dpop.json": dpopVectors(),
    "spec/vectors/tokens/client-assertion.json": clientAssertionVectors(),
    "spec/vectors/delegation/attenuation.json": attenuationVectors(),
    "spec/vectors/delegation/actor-chain.json": actorChainVectors(),
  };
}

/** The exact bytes of a vector file: 2-space JSON, keys in generation order, trailing newline. */
export function serialize(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

const ROOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function main(argv: readonly string[]): number {
  const check = argv.includes("--check");
  let drift = 0;
  for (const [path, value] of Object.entries(generate())) {
    const file = join(ROOT_DIR, path);
    const text = serialize(value);
    let current: string | undefined;
    try {
      current = readFileSync(file, "utf8");
    } catch {
      current = undefined;
    }
    if (current === text) continue;
    if (check) {
      console.error(`drift: ${path} differs from the generator's output`);
      drift++;
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      console.log(`wrote ${path}`);
    }
  }
  if (check && drift > 0) {
    console.error("run `npx tsx scripts/gen-vectors.ts` and review the diff");
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
