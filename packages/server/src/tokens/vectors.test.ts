/**
 * Runs the conformance vectors of spec/vectors/{tokens,delegation} against the implementation,
 * and fails when the checked-in files drift from what scripts/gen-vectors.ts generates.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type ActorClaim,
  type AttenuationRequest,
  type Authority,
  actorChain,
  actorClaim,
  attenuate,
  DeputyError,
  ERROR_CODES,
} from "@deputy/protocol";
import { compactVerify, EmbeddedJWK } from "jose";
import { describe, expect, it } from "vitest";
import { generate, serialize } from "../../../../scripts/gen-vectors.ts";
import { importAgentPublicJwk, jwkThumbprint } from "../crypto/jwk.js";
import { verifyAccessToken } from "./access-token.js";
import { parseAgentJwt, verifyAgentJwt } from "./agent-jwt.js";
import { type DpopCheckOptions, verifyDpopProof } from "./dpop.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const VECTOR_DIRS = ["spec/vectors/tokens", "spec/vectors/delegation"];

function load<T>(path: string): T {
  return JSON.parse(readFileSync(join(ROOT, path), "utf8")) as T;
}

interface Refusal {
  valid?: false;
  ok?: false;
  code: string;
  reason_contains: string;
}

interface JwkEntry {
  kty: string;
  crv: string;
  x: string;
  y?: string;
  kid: string;
  alg: "EdDSA" | "ES256";
}

/** Runs `fn` and asserts it throws a DeputyError with exactly `code` and a message containing the reason. */
function expectRefusal(fn: () => unknown, refusal: Refusal): void {
  let thrown: unknown;
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    thrown = e;
  }
  expect(returned, "expected a refusal, got a result").toBeUndefined();
  expect(thrown).toBeInstanceOf(DeputyError);
  const err = thrown as DeputyError;
  expect({ code: err.code, message: err.message }).toEqual({
    code: refusal.code,
    message: expect.stringContaining(refusal.reason_contains),
  });
}

/** The documented NonceStore contract (store/index.ts), in memory: one winner per live key. */
function memoryNonceStore() {
  const used = new Map<string, number>();
  return (key: string, expiresAt: number, now: number): boolean => {
    const until = used.get(key);
    if (until !== undefined && until >= now) return false;
    used.set(key, expiresAt);
    return true;
  };
}

interface StoreBehaviour {
  consume_key: string;
  remember_until: number;
  first_use: boolean;
  second_use: boolean;
  on_replay: Refusal;
}

/** A replay vector: the pure check accepted it; the recorded store behaviour must follow. */
function checkStoreBehaviour(store: StoreBehaviour, consumeKey: string, now: number): void {
  expect(store.consume_key).toBe(consumeKey);
  expect(store.remember_until).toBeGreaterThan(now);
  const consumeOnce = memoryNonceStore();
  expect(consumeOnce(consumeKey, store.remember_until, now)).toBe(store.first_use);
  expect(consumeOnce(consumeKey, store.remember_until, now + 1)).toBe(store.second_use);
  expect(Object.keys(ERROR_CODES)).toContain(store.on_replay.code);
}

// ---------------------------------------------------------------------------------------------

interface AccessTokenFile {
  issuer: string;
  jwks: { keys: JwkEntry[] };
  now: number;
  audience: string;
  leeway_sec: number;
  vectors: Array<{
    name: string;
    token: string;
    now?: number;
    audience?: string;
    expect: { valid: true; claims: Record<string, unknown> } | (Refusal & { valid: false });
  }>;
}

describe("spec/vectors/tokens/access-token.json", () => {
  const file = load<AccessTokenFile>("spec/vectors/tokens/access-token.json");
  const keys = new Map<string, KeyObject>(
    file.jwks.keys.map((k) => [
      k.kid,
      createPublicKey({ key: { kty: k.kty, crv: k.crv, x: k.x }, format: "jwk" }),
    ]),
  );
  for (const v of file.vectors) {
    it(v.name, () => {
      const verify = () =>
        verifyAccessToken(v.token, {
          issuer: file.issuer,
          audience: v.audience ?? file.audience,
          now: v.now ?? file.now,
          leewaySec: file.leeway_sec,
          resolveKey: (kid) => keys.get(kid),
        });
      if (v.expect.valid) expect(verify()).toEqual(v.expect.claims);
      else expectRefusal(verify, v.expect);
    });
  }
});

interface DpopFile {
  now: number;
  max_age_sec: number;
  future_skew_sec: number;
  vectors: Array<{
    name: string;
    proof: string;
    check: { htm: string; htu: string; access_token?: string; expected_jkt?: string; nonce?: string };
    expect: { valid: true; jkt: string; jti: string; iat: number } | (Refusal & { valid: false });
    requires_store?: true;
    store?: StoreBehaviour;
  }>;
}

describe("spec/vectors/tokens/dpop.json", () => {
  const file = load<DpopFile>("spec/vectors/tokens/dpop.json");
  for (const v of file.vectors) {
    it(v.name, () => {
      const opts: DpopCheckOptions = {
        htm: v.check.htm,
        htu: v.check.htu,
        now: file.now,
        maxAgeSec: file.max_age_sec,
        futureSkewSec: file.future_skew_sec,
        ...(v.check.access_token !== undefined ? { accessToken: v.check.access_token } : {}),
        ...(v.check.expected_jkt !== undefined ? { expectedJkt: v.check.expected_jkt } : {}),
        ...(v.check.nonce !== undefined ? { nonce: v.check.nonce } : {}),
      };
      if (!v.expect.valid) {
        expectRefusal(() => verifyDpopProof(v.proof, opts), v.expect);
        return;
      }
      const { jkt, jti, iat } = verifyDpopProof(v.proof, opts);
      expect({ valid: true, jkt, jti, iat }).toEqual(v.expect);
      if (v.requires_store) {
        // The pure check cannot see a replay: the same proof verifies again.
        expect(verifyDpopProof(v.proof, opts).jti).toBe(jti);
        checkStoreBehaviour(v.store!, `dpop:${jkt}:${jti}`, file.now);
      }
    });
  }
});

interface ClientAssertionFile {
  audiences: string[];
  now: number;
  max_lifetime_sec: number;
  skew_sec: number;
  agent: { id: string; jwks: { keys: JwkEntry[] } };
  vectors: Array<{
    name: string;
    assertion: string;
    expect:
      | { valid: true; agent_id: string; jti: string; exp: number; kid: string }
      | (Refusal & { valid: false });
    requires_store?: true;
    store?: StoreBehaviour;
  }>;
}

describe("spec/vectors/tokens/client-assertion.json", () => {
  const file = load<ClientAssertionFile>("spec/vectors/tokens/client-assertion.json");
  const keys = file.agent.jwks.keys.map((k) => ({
    kid: k.kid,
    alg: k.alg,
    keyObject: importAgentPublicJwk({ kty: k.kty, crv: k.crv, x: k.x, ...(k.y ? { y: k.y } : {}) }).keyObject,
  }));
  const verify = (assertion: string) =>
    verifyAgentJwt(parseAgentJwt(assertion, "ERR_INVALID_CLIENT"), {
      keys,
      audiences: file.audiences,
      now: file.now,
      maxLifetimeSec: file.max_lifetime_sec,
      skewSec: file.skew_sec,
      errorCode: "ERR_INVALID_CLIENT",
    });
  for (const v of file.vectors) {
    it(v.name, () => {
      if (!v.expect.valid) {
        expectRefusal(() => verify(v.assertion), v.expect);
        return;
      }
      const { agentId, jti, exp, kid } = verify(v.assertion);
      expect({ valid: true, agent_id: agentId, jti, exp, kid }).toEqual(v.expect);
      if (v.requires_store) {
        expect(verify(v.assertion).jti).toBe(jti);
        checkStoreBehaviour(v.store!, `ca:${agentId}:${jti}`, file.now);
      }
    });
  }
});

describe("JWK thumbprints of every vector key (RFC 7638)", () => {
  const access = load<AccessTokenFile>("spec/vectors/tokens/access-token.json");
  const client = load<ClientAssertionFile>("spec/vectors/tokens/client-assertion.json");
  for (const k of [...access.jwks.keys, ...client.agent.jwks.keys]) {
    it(`${k.kty} ${k.kid}`, () => {
      expect(jwkThumbprint(k)).toBe(k.kid);
      expect(importAgentPublicJwk(k).kid).toBe(k.kid);
    });
  }
});

describe("valid vectors also verify with jose (an independent JOSE implementation)", () => {
  const access = load<AccessTokenFile>("spec/vectors/tokens/access-token.json");
  const dpop = load<DpopFile>("spec/vectors/tokens/dpop.json");
  const client = load<ClientAssertionFile>("spec/vectors/tokens/client-assertion.json");
  const jwkOf = (k: JwkEntry) => ({ kty: k.kty, crv: k.crv, x: k.x, ...(k.y ? { y: k.y } : {}) });
  const algorithms = ["EdDSA", "ES256"];
  it("access tokens", async () => {
    const key = createPublicKey({ key: jwkOf(access.jwks.keys[0]!), format: "jwk" });
    for (const v of access.vectors.filter((x) => x.expect.valid)) {
      const { payload } = await compactVerify(v.token, key, { algorithms });
      expect(JSON.parse(new TextDecoder().decode(payload)), v.name).toEqual(
        (v.expect as { claims: unknown }).claims,
      );
    }
  });
  it("DPoP proofs", async () => {
    for (const v of dpop.vectors.filter((x) => x.expect.valid)) {
      await expect(compactVerify(v.proof, EmbeddedJWK, { algorithms }), v.name).resolves.toBeDefined();
    }
  });
  it("client assertions", async () => {
    const keys = new Map(
      client.agent.jwks.keys.map((k) => [k.kid, createPublicKey({ key: jwkOf(k), format: "jwk" })]),
    );
    for (const v of client.vectors) {
      if (!v.expect.valid) continue;
      const key = keys.get(v.expect.kid)!;
      await expect(compactVerify(v.assertion, key, { algorithms }), v.name).resolves.toBeDefined();
    }
  });
});

// ---------------------------------------------------------------------------------------------

type AttenuationExpect = { ok: true; child: Authority } | (Refusal & { ok: false });

interface AttenuationFile {
  max_delegation_depth: number;
  vectors: Array<{
    name: string;
    parent: Authority;
    request?: AttenuationRequest;
    expect?: AttenuationExpect;
    steps?: Array<{ request: AttenuationRequest; expect: AttenuationExpect }>;
  }>;
}

describe("spec/vectors/delegation/attenuation.json", () => {
  const file = load<AttenuationFile>("spec/vectors/delegation/attenuation.json");
  it("max_delegation_depth is the protocol's", async () => {
    const { MAX_DELEGATION_DEPTH } = await import("@deputy/protocol");
    expect(file.max_delegation_depth).toBe(MAX_DELEGATION_DEPTH);
  });
  for (const v of file.vectors) {
    it(v.name, () => {
      const steps = v.steps ?? [{ request: v.request!, expect: v.expect! }];
      let parent = v.parent;
      for (const step of steps) {
        if (!step.expect.ok) {
          expectRefusal(() => attenuate(parent, step.request), step.expect);
          return;
        }
        const child = attenuate(parent, step.request);
        expect(child).toEqual(step.expect.child);
        parent = child;
      }
    });
  }
});

interface ActorChainFile {
  vectors: Array<{
    name: string;
    client_id: string;
    registered_chain: string[];
    act: ActorClaim;
    expect: { chain: string[]; matches_registered_chain: boolean };
  }>;
}

/** The rule in the file: the chain in `act` equals [client_id, ...registered parents, nearest first]. */
function matchesRegisteredChain(act: ActorClaim, clientId: string, registered: readonly string[]): boolean {
  const got = actorChain(act);
  const want = [clientId, ...registered];
  return got.length === want.length && want.every((sub, i) => got[i] === sub);
}

describe("spec/vectors/delegation/actor-chain.json", () => {
  const file = load<ActorChainFile>("spec/vectors/delegation/actor-chain.json");
  for (const v of file.vectors) {
    it(v.name, () => {
      expect(actorChain(v.act)).toEqual(v.expect.chain);
      expect(matchesRegisteredChain(v.act, v.client_id, v.registered_chain)).toBe(
        v.expect.matches_registered_chain,
      );
      // actorClaim builds exactly the honest act claims, and none of the attacks.
      const built = actorClaim(v.client_id, v.registered_chain);
      if (v.expect.matches_registered_chain) expect(built).toEqual(v.act);
      else expect(built).not.toEqual(v.act);
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe("vectors match the generator (regenerate with `npx tsx scripts/gen-vectors.ts`)", () => {
  const generated = generate();
  for (const [path, value] of Object.entries(generated)) {
    it(path, () => {
      const text = readFileSync(join(ROOT, path), "utf8");
      // Structured first for a readable diff, then byte for byte.
      expect(JSON.parse(text)).toEqual(JSON.parse(serialize(value)));
      expect(text).toBe(serialize(value));
    });
  }
  it("no vector file is left that the generator does not produce", () => {
    const present = VECTOR_DIRS.flatMap((dir) =>
      readdirSync(join(ROOT, dir))
        .filter((f) => f.endsWith(".json"))
        .map((f) => `${dir}/${f}`),
    );
    expect(present.sort()).toEqual(Object.keys(generated).sort());
  });
});
