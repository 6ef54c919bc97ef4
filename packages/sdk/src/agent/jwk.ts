/**
 * Agent key pairs as JWKs: generation, the public half, the signing algorithm and the RFC 7638
 * thumbprint that Deputy uses as the key's `kid` and as `cnf.jkt`.
 *
 * @example
 * const { privateJwk, publicJwk, kid } = await generateAgentKey();
 */
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from "jose";

/** Signature algorithms Deputy accepts for agent keys (DESIGN §4). */
export type AgentKeyAlg = "EdDSA" | "ES256";

/** An agent's key pair. `kid` is the RFC 7638 SHA-256 thumbprint of the public key. */
export interface AgentKey {
  privateJwk: JWK;
  publicJwk: JWK;
  kid: string;
}

/**
 * Generates an agent key pair locally (Ed25519 by default, or P-256). Only `publicJwk` is ever
 * sent to Deputy; keep `privateJwk` where only the agent can read it.
 *
 * @example
 * const key = await generateAgentKey("ES256");
 * await fetch(`${issuer}/v1/agents`, { method: "POST", body: JSON.stringify({ principal, name, jwks: { keys: [key.publicJwk] } }), headers });
 */
export async function generateAgentKey(alg: AgentKeyAlg = "EdDSA"): Promise<AgentKey> {
  if (alg !== "EdDSA" && alg !== "ES256") throw new TypeError(`unsupported agent key alg ${String(alg)}`);
  const { privateKey } = await generateKeyPair(alg === "EdDSA" ? "Ed25519" : "ES256", { extractable: true });
  const exported = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(exported, "sha256");
  const privateJwk: JWK = { ...exported, alg, kid, use: "sig" };
  return { privateJwk, publicJwk: publicJwkOf(privateJwk), kid };
}

/**
 * The public half of a JWK: only the members that define an Ed25519 or P-256 public key, plus
 * `kid`, `alg` and `use` when present.
 *
 * @example
 * const publicJwk = publicJwkOf(privateJwk); // { kty: "OKP", crv: "Ed25519", x: "…", alg: "EdDSA", … }
 */
export function publicJwkOf(jwk: JWK): JWK {
  return pick(jwk, ["kty", "crv", "x", "y", "kid", "alg", "use"]);
}

function pick(jwk: JWK, members: readonly string[]): JWK {
  const out: Record<string, unknown> = {};
  for (const name of members) {
    const value = (jwk as Record<string, unknown>)[name];
    if (value !== undefined) out[name] = value;
  }
  return out as JWK;
}

/**
 * The JWS `alg` for an agent key: EdDSA for OKP Ed25519, ES256 for EC P-256.
 *
 * @example
 * jwkAlg({ kty: "OKP", crv: "Ed25519", x: "…" }); // "EdDSA"
 */
export function jwkAlg(jwk: JWK): AgentKeyAlg {
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  throw new TypeError("agent keys are Ed25519 (OKP) or P-256 (EC) JWKs");
}

/**
 * The RFC 7638 SHA-256 thumbprint of a JWK (private members are ignored).
 *
 * @example
 * await jwkThumbprint({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
 * // "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" (RFC 8037 Appendix A.3)
 */
export function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, "sha256");
}

/** A signing key ready for jose, with what the JWS headers need. */
export interface SigningKey {
  key: CryptoKey;
  alg: AgentKeyAlg;
  kid: string;
  publicJwk: JWK;
}

const imported = new WeakMap<JWK, Promise<SigningKey>>();

/**
 * Imports a private JWK once (cached per object) for signing assertions and proofs.
 *
 * @example
 * const { key, alg, kid } = await signingKey(privateJwk);
 */
export function signingKey(privateJwk: JWK): Promise<SigningKey> {
  let cached = imported.get(privateJwk);
  if (!cached) {
    cached = (async () => {
      if (typeof privateJwk.d !== "string")
        throw new TypeError("a private JWK (with its d member) is required");
      const alg = jwkAlg(privateJwk);
      const key = (await importJWK({ ...privateJwk, alg }, alg)) as CryptoKey;
      const kid = await jwkThumbprint(privateJwk);
      // Only the members that define the public key: RFC 9449 §4.2 forbids private members.
      const publicJwk = pick(privateJwk, ["kty", "crv", "x", "y"]);
      return { key, alg, kid, publicJwk } satisfies SigningKey;
    })();
    imported.set(privateJwk, cached);
    cached.catch(() => imported.delete(privateJwk));
  }
  return cached;
}
