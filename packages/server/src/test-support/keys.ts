/**
 * Deterministic keys for tests: Ed25519 keys derived from a numeric seed (RFC 8032 private keys
 * are 32 arbitrary bytes), and client-side JWT helpers that sign with `node:crypto` directly so
 * the server's own JOSE code is not grading its own homework.
 *
 * @example
 * const key = testKey(1);
 * const assertion = signJwt(key, { typ: "JWT" }, { iss: agentId, sub: agentId, aud: issuer, … });
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from "node:crypto";

export interface TestKey {
  privateKey: KeyObject;
  publicJwk: { kty: string; crv: string; x: string; y?: string };
  kid: string;
  alg: "EdDSA" | "ES256";
}

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function testKey(seed: number): TestKey {
  const seedBytes = createHash("sha256").update(`deputy-test-key-${seed}`).digest();
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seedBytes]),
    format: "der",
    type: "pkcs8",
  });
  const jwk = createPublicKey(privateKey).export({ format: "jwk" }) as {
    kty: string;
    crv: string;
    x: string;
  };
  return {
    privateKey,
    publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x },
    kid: thumbprint(jwk),
    alg: "EdDSA",
  };
}

/** A P-256 key (random: ECDSA signatures are randomized anyway; tests assert no key-specific bytes). */
export function testP256Key(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" }) as { kty: string; crv: string; x: string; y: string };
  return {
    privateKey,
    publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
    kid: thumbprint(jwk),
    alg: "ES256",
  };
}

/** RFC 7638 thumbprint, written independently of the server's. */
export function thumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): string {
  const members =
    jwk.kty === "EC"
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

export function signJwt(
  key: TestKey,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const h = Buffer.from(JSON.stringify({ alg: key.alg, ...header })).toString("base64url");
  const p = Buffer.from(JSON.stringify(payload)).toString("base64url");
  const input = Buffer.from(`${h}.${p}`);
  const sig =
    key.alg === "EdDSA"
      ? sign(null, input, key.privateKey)
      : sign("sha256", input, { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  return `${h}.${p}.${sig.toString("base64url")}`;
}

export function clientAssertion(
  key: TestKey,
  agentId: string,
  nowS: number,
  overrides: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): string {
  return signJwt(
    key,
    { typ: "JWT", kid: key.kid, ...header },
    {
      iss: agentId,
      sub: agentId,
      aud: "http://deputy.test",
      jti: randomUUID(),
      iat: nowS,
      exp: nowS + 60,
      ...overrides,
    },
  );
}

export function dpopProof(
  key: TestKey,
  opts: { htm: string; htu: string; iat: number; accessToken?: string; nonce?: string },
  overrides: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): string {
  return signJwt(
    key,
    { typ: "dpop+jwt", jwk: key.publicJwk, ...header },
    {
      jti: randomUUID(),
      htm: opts.htm,
      htu: opts.htu,
      iat: opts.iat,
      ...(opts.accessToken ? { ath: createHash("sha256").update(opts.accessToken).digest("base64url") } : {}),
      ...(opts.nonce ? { nonce: opts.nonce } : {}),
      ...overrides,
    },
  );
}
