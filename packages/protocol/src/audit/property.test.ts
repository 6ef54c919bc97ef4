/**
 * Invariants of the tree math (STYLE: property tests for anything with an invariant): honest
 * proofs verify for every size, and a single flipped bit anywhere (entry, proof, root) is caught.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CompactRange } from "./compact-range.js";
import { AuditVerificationError } from "./errors.js";
import { consistencyProof, inclusionProof, rootFromLeaves, verifyConsistencyProof } from "./merkle.js";
import { flipBit, syncHasher, utf8 } from "./test-support/helpers.js";
import { verifyInclusion } from "./verify.js";

const entriesOf = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => utf8(`{"index":${i},"seed":${seed}}`));

function failsWith(fn: () => unknown, code: string): boolean {
  try {
    fn();
  } catch (e) {
    return e instanceof AuditVerificationError && e.code === code;
  }
  return false;
}

describe("inclusion proofs (sizes ≤ 300)", () => {
  const scenario = fc
    .record({ size: fc.integer({ min: 1, max: 300 }), seed: fc.nat() })
    .chain(({ size, seed }) =>
      fc.record({
        size: fc.constant(size),
        seed: fc.constant(seed),
        index: fc.integer({ min: 0, max: size - 1 }),
      }),
    );

  it("verify, and fail on any single bit flip in the entry, the proof or the root", () => {
    fc.assert(
      fc.property(scenario, fc.nat(), ({ size, seed, index }, pick) => {
        const entries = entriesOf(size, seed);
        const leaves = entries.map((e) => syncHasher.leaf(e));
        const rootHash = rootFromLeaves(leaves, syncHasher);
        const proof = inclusionProof(leaves, index, size, syncHasher);
        const check = { entryBytes: entries[index]!, index, size, proof, rootHash };
        verifyInclusion(check, syncHasher);

        const entryBit = pick % (check.entryBytes.length * 8);
        expect(
          failsWith(
            () => verifyInclusion({ ...check, entryBytes: flipBit(check.entryBytes, entryBit) }, syncHasher),
            "ERR_AUDIT_ROOT_MISMATCH",
          ),
        ).toBe(true);
        expect(
          failsWith(
            () => verifyInclusion({ ...check, rootHash: flipBit(rootHash, pick % 256) }, syncHasher),
            "ERR_AUDIT_ROOT_MISMATCH",
          ),
        ).toBe(true);
        if (proof.length > 0) {
          const at = pick % proof.length;
          const tampered = proof.map((h, i) => (i === at ? flipBit(h, (pick >> 3) % 256) : h));
          expect(
            failsWith(
              () => verifyInclusion({ ...check, proof: tampered }, syncHasher),
              "ERR_AUDIT_ROOT_MISMATCH",
            ),
          ).toBe(true);
        }
        // A proof for another index of the same tree never proves this entry there.
        if (size > 1) {
          const other = (index + 1 + (pick % (size - 1))) % size;
          expect(() => verifyInclusion({ ...check, index: other }, syncHasher)).toThrow(
            AuditVerificationError,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it("verify with the default Web Crypto hasher too", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ size, seed, index }) => {
        const entries = entriesOf(size, seed);
        const leaves = entries.map((e) => syncHasher.leaf(e));
        const rootHash = rootFromLeaves(leaves, syncHasher);
        const proof = inclusionProof(leaves, index, size, syncHasher);
        await verifyInclusion({ entryBytes: entries[index]!, index, size, proof, rootHash });
      }),
      { numRuns: 30 },
    );
  });
});

describe("consistency proofs", () => {
  it("verify for every m ≤ n, and fail when the old root is altered", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (n, seed, pick) => {
        const leaves = entriesOf(n, seed).map((e) => syncHasher.leaf(e));
        // Roots of every prefix, in one pass.
        const range = new CompactRange(syncHasher);
        const roots = [range.root()];
        for (const leaf of leaves) {
          range.append(leaf);
          roots.push(range.root());
        }
        for (let m = 1; m <= n; m++) {
          const proof = consistencyProof(leaves, m, n, syncHasher);
          verifyConsistencyProof(m, n, proof, roots[m]!, roots[n]!, syncHasher);
          const altered = flipBit(roots[m]!, (pick + m) % 256);
          expect(
            failsWith(
              () => verifyConsistencyProof(m, n, proof, altered, roots[n]!, syncHasher),
              "ERR_AUDIT_INCONSISTENT",
            ),
            `${m}->${n}`,
          ).toBe(true);
        }
      }),
      { numRuns: 15 },
    );
  });

  it("fail on any single bit flip in the proof or the new root", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 300 })
          .chain((n) => fc.record({ n: fc.constant(n), m: fc.integer({ min: 1, max: n - 1 }) })),
        fc.nat(),
        ({ n, m }, pick) => {
          const leaves = entriesOf(n, pick).map((e) => syncHasher.leaf(e));
          const oldRoot = rootFromLeaves(leaves.slice(0, m), syncHasher);
          const newRoot = rootFromLeaves(leaves, syncHasher);
          const proof = consistencyProof(leaves, m, n, syncHasher);
          const at = pick % proof.length;
          const tampered = proof.map((h, i) => (i === at ? flipBit(h, (pick >> 4) % 256) : h));
          expect(() => verifyConsistencyProof(m, n, tampered, oldRoot, newRoot, syncHasher)).toThrow(
            AuditVerificationError,
          );
          expect(
            failsWith(
              () => verifyConsistencyProof(m, n, proof, oldRoot, flipBit(newRoot, pick % 256), syncHasher),
              "ERR_AUDIT_INCONSISTENT",
            ),
          ).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
