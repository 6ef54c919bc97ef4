/**
 * Server DPoP nonces across a master-key rotation: nonces are made with the active master key and
 * accepted under any key in the ring, so a replica that restarted with a new key in front still
 * accepts the nonce a not-yet-restarted replica (or this process before its restart) handed out.
 */
import { DeputyError } from "@deputy/protocol";
import { describe, expect, it } from "vitest";
import { FakeClock } from "../clock.js";
import type { Deputy } from "../context.js";
import { MasterKeyRing } from "../crypto/master-key-ring.js";
import { dpopProof, testKey } from "../test-support/keys.js";
import { checkDpop, dpopNonces } from "./dpop-check.js";

const OLD = Buffer.alloc(32, 1);
const NEW = Buffer.alloc(32, 2);
const T0 = Date.UTC(2026, 0, 1);
const HTU = "http://deputy.test/oauth/token";

function deputyWith(ring: Buffer[]): Deputy {
  return {
    config: { dpopNonce: true, dpopMaxAge: 60 },
    clock: new FakeClock(T0),
    dpopNonceKeys: MasterKeyRing.from(ring).derive("deputy:dpop-nonce:v1"),
  } as unknown as Deputy;
}

describe("DPoP nonces and the master-key ring", () => {
  const key = testKey(1);
  const proofWith = (nonce: string) => dpopProof(key, { htm: "POST", htu: HTU, iat: T0 / 1000, nonce });

  it("a nonce made under the previous master key is accepted while that key is in the ring", () => {
    const before = deputyWith([OLD]);
    const after = deputyWith([NEW, OLD]);
    const [oldNonce] = dpopNonces(before, T0 / 1000);
    expect(checkDpop(after, proofWith(oldNonce), { htm: "POST", htu: HTU })?.jkt).toBeDefined();
    // New nonces come from the active key, and the old ring does not know them.
    const [newNonce] = dpopNonces(after, T0 / 1000);
    expect(newNonce).not.toBe(oldNonce);
    expect(checkDpop(after, proofWith(newNonce), { htm: "POST", htu: HTU })?.jkt).toBeDefined();
  });

  it("once the old key is dropped its nonces get use_dpop_nonce with a fresh nonce", () => {
    const [oldNonce] = dpopNonces(deputyWith([OLD]), T0 / 1000);
    const only = deputyWith([NEW]);
    let error: unknown;
    try {
      checkDpop(only, proofWith(oldNonce), { htm: "POST", htu: HTU });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DeputyError);
    expect((error as DeputyError).code).toBe("ERR_USE_DPOP_NONCE");
    expect((error as DeputyError).extra).toEqual({ dpop_nonce: dpopNonces(only, T0 / 1000)[0] });
  });
});
