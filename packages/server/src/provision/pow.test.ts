/**
 * Proof-of-work challenges across a master-key rotation: a challenge MAC'd under the previous
 * master key still verifies while that key is in the ring, and is refused once it is dropped.
 */
import { describe, expect, it } from "vitest";
import { MasterKeyRing } from "../crypto/master-key-ring.js";
import { checkChallenge, issueChallenge, solveChallenge } from "./pow.js";

const OLD = Buffer.alloc(32, 1);
const NEW = Buffer.alloc(32, 2);
const NOW = Date.UTC(2026, 0, 1);
const powKeys = (ring: Buffer[]) => MasterKeyRing.from(ring).derive("deputy:pow-challenge:v1");

describe("proof-of-work challenges and the master-key ring", () => {
  it("accepts a challenge MAC'd by any ring key, refuses one whose key left the ring", () => {
    const [oldKey] = powKeys([OLD]);
    const c = issueChallenge(oldKey!, NOW, 4, 120);
    const nonce = solveChallenge(c.challenge, c.difficulty);
    expect(checkChallenge(powKeys([NEW, OLD]), c.challenge, nonce, NOW)).toEqual({
      expiresAt: NOW + 120_000,
      difficulty: 4,
    });
    expect(() => checkChallenge(powKeys([NEW]), c.challenge, nonce, NOW)).toThrowError(
      "challenge is not one this server issued",
    );
  });
});
