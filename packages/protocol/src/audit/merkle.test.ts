/**
 * RFC 9162 §2.1 tree math, pinned by the RFC 6962 reference vectors: the 8-leaf tree of the
 * Certificate Transparency reference implementation, as published in transparency-dev/merkle
 * (proof/verify_test.go, rfc6962/rfc6962_test.go, proof/proof_test.go). The same values are in
 * spec/vectors/audit/rfc6962.json; these tests also replay that repository's corruption probes.
 */
import { describe, expect, it } from "vitest";
import { webCryptoHasher } from "./hasher.js";
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  proofFromNodes,
  rootFromInclusionProof,
  rootFromLeaves,
  verifyConsistencyProof,
  verifyInclusionProof,
} from "./merkle.js";
import { codeOf, hex, leaves, syncCodeOf, syncHasher, toHex, utf8 } from "./test-support/helpers.js";
import { consistencyProofRanges, inclusionProofRanges, rangeNodes, type TreeNode } from "./tree.js";

// transparency-dev/merkle proof/verify_test.go
const LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
];
const ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const INCLUSION = [
  { index: 0, size: 1, proof: [] as string[] },
  {
    index: 0,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { index: 2, size: 3, proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
  {
    index: 1,
    size: 5,
    proof: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
];
const CONSISTENCY = [
  { from: 1, to: 1, proof: [] as string[] },
  {
    from: 1,
    to: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    from: 6,
    to: 8,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    from: 2,
    to: 5,
    proof: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  {
    from: 6,
    to: 7,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
];
const SOME_HASH = hex("abacaba000000000000000000000000000000000000000000060061e00123456");
const EMPTY_TREE = hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

const rfcLeaves = () => LEAVES.map((l) => syncHasher.leaf(hex(l)));

describe("RFC 6962 hasher vectors (rfc6962/rfc6962_test.go)", () => {
  it("hashes leaves and nodes with the 0x00 / 0x01 prefixes, sync and async alike", async () => {
    expect(toHex(await leafHash(new Uint8Array()))).toBe(
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    );
    expect(toHex(leafHash(utf8("L123456"), syncHasher))).toBe(
      "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
    );
    expect(toHex(await webCryptoHasher.node(utf8("N123"), utf8("N456")))).toBe(
      "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
    );
    expect(toHex(await rootFromLeaves([]))).toBe(toHex(EMPTY_TREE));
  });
});

describe("RFC 6962 tree vectors (proof/verify_test.go)", () => {
  it("computes the roots of sizes 1..8, with the default and the sync hasher", async () => {
    const all = rfcLeaves();
    for (let n = 1; n <= 8; n++) {
      expect(toHex(await rootFromLeaves(all.slice(0, n)))).toBe(ROOTS[n - 1]);
      expect(toHex(rootFromLeaves(all.slice(0, n), syncHasher))).toBe(ROOTS[n - 1]);
    }
  });

  it("generates and verifies the published inclusion proofs", async () => {
    const all = rfcLeaves();
    for (const v of INCLUSION) {
      expect((await inclusionProof(all, v.index, v.size)).map(toHex)).toEqual(v.proof);
      const proof = v.proof.map(hex);
      const root = hex(ROOTS[v.size - 1]!);
      await verifyInclusionProof(all[v.index]!, v.index, v.size, proof, root);
      expect(toHex(rootFromInclusionProof(all[v.index]!, v.index, v.size, proof, syncHasher))).toBe(
        ROOTS[v.size - 1],
      );
    }
  });

  it("generates and verifies the published consistency proofs", async () => {
    const all = rfcLeaves();
    for (const v of CONSISTENCY) {
      expect((await consistencyProof(all, v.from, v.to)).map(toHex)).toEqual(v.proof);
      await verifyConsistencyProof(
        v.from,
        v.to,
        v.proof.map(hex),
        hex(ROOTS[v.from - 1]!),
        hex(ROOTS[v.to - 1]!),
      );
    }
  });

  // corruptInclusionProof: every probe must fail.
  it("refuses every corrupted inclusion probe", () => {
    const all = rfcLeaves();
    for (const v of INCLUSION.slice(1)) {
      const proof = v.proof.map(hex);
      const root = hex(ROOTS[v.size - 1]!);
      const leaf = all[v.index]!;
      const probes: [string, () => unknown][] = [
        ["index - 1", () => verifyInclusionProof(leaf, v.index - 1, v.size, proof, root, syncHasher)],
        ["index + 1", () => verifyInclusionProof(leaf, v.index + 1, v.size, proof, root, syncHasher)],
        ["index ^ 2", () => verifyInclusionProof(leaf, v.index ^ 2, v.size, proof, root, syncHasher)],
        ["size * 2", () => verifyInclusionProof(leaf, v.index, v.size * 2, proof, root, syncHasher)],
        [
          "size / 2",
          () => verifyInclusionProof(leaf, v.index, Math.floor(v.size / 2), proof, root, syncHasher),
        ],
        [
          "wrong leaf",
          () => verifyInclusionProof(utf8("WrongLeaf"), v.index, v.size, proof, root, syncHasher),
        ],
        ["empty root", () => verifyInclusionProof(leaf, v.index, v.size, proof, EMPTY_TREE, syncHasher)],
        ["random root", () => verifyInclusionProof(leaf, v.index, v.size, proof, SOME_HASH, syncHasher)],
        [
          "trailing garbage",
          () => verifyInclusionProof(leaf, v.index, v.size, [...proof, new Uint8Array()], root, syncHasher),
        ],
        [
          "trailing root",
          () => verifyInclusionProof(leaf, v.index, v.size, [...proof, root], root, syncHasher),
        ],
        [
          "preceding garbage",
          () => verifyInclusionProof(leaf, v.index, v.size, [new Uint8Array(), ...proof], root, syncHasher),
        ],
        [
          "preceding root",
          () => verifyInclusionProof(leaf, v.index, v.size, [root, ...proof], root, syncHasher),
        ],
        [
          "removed component",
          () => verifyInclusionProof(leaf, v.index, v.size, proof.slice(0, -1), root, syncHasher),
        ],
        [
          "inserted component",
          () =>
            verifyInclusionProof(
              leaf,
              v.index,
              v.size,
              [proof[0]!, SOME_HASH, ...proof.slice(1)],
              root,
              syncHasher,
            ),
        ],
        ...proof.map((_, i): [string, () => unknown] => [
          `modified proof[${i}] bit 3`,
          () =>
            verifyInclusionProof(
              leaf,
              v.index,
              v.size,
              proof.map((h, j) => (j === i ? h.map((b, k) => (k === 0 ? b ^ 8 : b)) : h)),
              root,
              syncHasher,
            ),
        ]),
      ];
      for (const [name, probe] of probes) {
        expect(() => probe(), `${v.index}/${v.size}: ${name}`).toThrow();
      }
    }
  });

  // corruptConsistencyProof: every probe must fail.
  it("refuses every corrupted consistency probe", () => {
    for (const v of CONSISTENCY.slice(1)) {
      const proof = v.proof.map(hex);
      const r1 = hex(ROOTS[v.from - 1]!);
      const r2 = hex(ROOTS[v.to - 1]!);
      const check = (from: number, to: number, p: Uint8Array[], a: Uint8Array, b: Uint8Array) => () =>
        verifyConsistencyProof(from, to, p, a, b, syncHasher);
      const probes: [string, () => unknown][] = [
        ["from - 1", check(v.from - 1, v.to, proof, r1, r2)],
        ["from + 1", check(v.from + 1, v.to, proof, r1, r2)],
        ["from ^ 2", check(v.from ^ 2, v.to, proof, r1, r2)],
        ["to * 2", check(v.from, v.to * 2, proof, r1, r2)],
        ["to / 2", check(v.from, Math.floor(v.to / 2), proof, r1, r2)],
        ["wrong root1", check(v.from, v.to, proof, utf8("WrongRoot"), r2)],
        ["wrong root2", check(v.from, v.to, proof, r1, utf8("WrongRoot"))],
        ["swapped roots", check(v.from, v.to, proof, r2, r1)],
        ["empty proof", check(v.from, v.to, [], r1, r2)],
        ["trailing garbage", check(v.from, v.to, [...proof, new Uint8Array()], r1, r2)],
        ["trailing root1", check(v.from, v.to, [...proof, r1], r1, r2)],
        ["trailing root2", check(v.from, v.to, [...proof, r2], r1, r2)],
        ["preceding garbage", check(v.from, v.to, [new Uint8Array(), ...proof], r1, r2)],
        ["preceding root1", check(v.from, v.to, [r1, ...proof], r1, r2)],
        ["preceding root2", check(v.from, v.to, [r2, ...proof], r1, r2)],
        ["preceding proof[0]", check(v.from, v.to, [proof[0]!, ...proof], r1, r2)],
        ["truncated proof", check(v.from, v.to, proof.slice(0, -1), r1, r2)],
        ...proof.map((_, i): [string, () => unknown] => [
          `modified proof[${i}] bit 4`,
          check(
            v.from,
            v.to,
            proof.map((h, j) => (j === i ? h.map((b, k) => (k === 0 ? b ^ 16 : b)) : h)),
            r1,
            r2,
          ),
        ]),
      ];
      for (const [name, probe] of probes) {
        expect(() => probe(), `${v.from}->${v.to}: ${name}`).toThrow();
      }
    }
  });

  // TestVerifyConsistency's table, restricted to Deputy's domain (0 < from ≤ to).
  it("treats equal sizes as 'same tree, empty proof'", () => {
    const r = hex(ROOTS[0]!);
    expect(() => verifyConsistencyProof(1, 1, [], r, r, syncHasher)).not.toThrow();
    expect(syncCodeOf(() => verifyConsistencyProof(1, 1, [], r, SOME_HASH, syncHasher))).toBe(
      "ERR_AUDIT_INCONSISTENT",
    );
    expect(syncCodeOf(() => verifyConsistencyProof(1, 1, [EMPTY_TREE], r, r, syncHasher))).toBe(
      "ERR_AUDIT_BAD_PROOF",
    );
    expect(syncCodeOf(() => verifyConsistencyProof(1, 2, [], r, r, syncHasher))).toBe("ERR_AUDIT_BAD_PROOF");
  });
});

describe("proof shapes (proof/proof_test.go TestInclusion, TestConsistency)", () => {
  const ids = (ranges: { start: number; end: number }[]) =>
    ranges.map((r) => rangeNodes(r).map((n: TreeNode) => `${n.level}/${n.index}`));

  it("matches transparency-dev's node lists, rehashed groups folded into one range", () => {
    expect(ids(inclusionProofRanges(0, 7))).toEqual([["0/1"], ["1/1"], ["1/2", "0/6"]]);
    expect(ids(inclusionProofRanges(4, 7))).toEqual([["0/5"], ["0/6"], ["2/0"]]);
    expect(ids(inclusionProofRanges(6, 7))).toEqual([["1/2"], ["2/0"]]);
    expect(ids(inclusionProofRanges(10, 15))).toEqual([["0/11"], ["1/4"], ["1/6", "0/14"], ["3/0"]]);
    expect(ids(inclusionProofRanges(24, 31))).toEqual([
      ["0/25"],
      ["1/13"],
      ["1/14", "0/30"],
      ["3/2"],
      ["4/0"],
    ]);
    expect(ids(inclusionProofRanges(81, 95))).toEqual([
      ["0/80"],
      ["1/41"],
      ["2/21"],
      ["2/22", "1/46", "0/94"],
      ["4/4"],
      ["6/0"],
    ]);
    expect(ids(consistencyProofRanges(5, 7))).toEqual([["0/4"], ["0/5"], ["0/6"], ["2/0"]]);
    expect(ids(consistencyProofRanges(7, 8))).toEqual([["0/6"], ["0/7"], ["1/2"], ["2/0"]]);
    expect(ids(consistencyProofRanges(3, 7))).toEqual([["0/2"], ["0/3"], ["1/0"], ["1/2", "0/6"]]);
    expect(ids(consistencyProofRanges(4, 7))).toEqual([["1/2", "0/6"]]);
    expect(ids(consistencyProofRanges(10, 15))).toEqual([["1/4"], ["1/5"], ["1/6", "0/14"], ["3/0"]]);
    expect(ids(consistencyProofRanges(24, 31))).toEqual([["3/2"], ["2/6", "1/14", "0/30"], ["4/0"]]);
    expect(ids(consistencyProofRanges(81, 95))).toEqual([
      ["0/80"],
      ["0/81"],
      ["1/41"],
      ["2/21"],
      ["2/22", "1/46", "0/94"],
      ["4/4"],
      ["6/0"],
    ]);
    for (let size = 1; size <= 8; size++) expect(consistencyProofRanges(size, size)).toEqual([]);
  });
});

describe("every tree up to 40 leaves", () => {
  const all = leaves(40);
  // All perfect nodes of the full tree, as a server would have stored them.
  const stored = new Map<string, Uint8Array>();
  for (let level = 0; 2 ** level <= all.length; level++) {
    for (let index = 0; (index + 1) * 2 ** level <= all.length; index++) {
      stored.set(
        `${level}/${index}`,
        rootFromLeaves(all.slice(index * 2 ** level, (index + 1) * 2 ** level), syncHasher),
      );
    }
  }
  const lookup = (n: TreeNode) => stored.get(`${n.level}/${n.index}`)!;

  it("verifies every inclusion proof; stored-node proofs equal proofs from leaves", () => {
    for (let size = 1; size <= all.length; size++) {
      const root = rootFromLeaves(all.slice(0, size), syncHasher);
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(all, index, size, syncHasher);
        expect(proofFromNodes(inclusionProofRanges(index, size), lookup, syncHasher)).toEqual(proof);
        verifyInclusionProof(all[index]!, index, size, proof, root, syncHasher);
      }
    }
  });

  it("verifies every consistency proof; stored-node proofs equal proofs from leaves", () => {
    const roots = Array.from({ length: all.length + 1 }, (_, n) =>
      rootFromLeaves(all.slice(0, n), syncHasher),
    );
    for (let to = 1; to <= all.length; to++) {
      for (let from = 1; from <= to; from++) {
        const proof = consistencyProof(all, from, to, syncHasher);
        expect(proofFromNodes(consistencyProofRanges(from, to), lookup, syncHasher)).toEqual(proof);
        verifyConsistencyProof(from, to, proof, roots[from]!, roots[to]!, syncHasher);
      }
    }
  });

  it("gives the same answers asynchronously (Web Crypto)", async () => {
    const size = 37;
    const root = await rootFromLeaves(all.slice(0, size));
    expect(root).toEqual(rootFromLeaves(all.slice(0, size), syncHasher));
    const proof = await inclusionProof(all, 17, size);
    await verifyInclusionProof(all[17]!, 17, size, proof, root);
    const cproof = await consistencyProof(all, 13, size);
    await verifyConsistencyProof(13, size, cproof, await rootFromLeaves(all.slice(0, 13)), root);
    expect(await proofFromNodes(inclusionProofRanges(17, size), lookup)).toEqual(proof);
  });
});

describe("input validation", () => {
  const all = leaves(8);
  const root = rootFromLeaves(all, syncHasher);

  it("refuses indexes and sizes outside 0 ≤ index < size ≤ 2^53 − 1 with ERR_AUDIT_BAD_RANGE", () => {
    for (const [index, size] of [
      [8, 8],
      [0, 0],
      [-1, 8],
      [1.5, 8],
      [0, Number.NaN],
      [0, 2 ** 53],
      [Number.POSITIVE_INFINITY, 8],
    ] as const) {
      expect(syncCodeOf(() => verifyInclusionProof(all[0]!, index, size, [], root, syncHasher))).toBe(
        "ERR_AUDIT_BAD_RANGE",
      );
      expect(syncCodeOf(() => inclusionProofRanges(index, size))).toBe("ERR_AUDIT_BAD_RANGE");
    }
    expect(syncCodeOf(() => inclusionProof(all, 3, 9, syncHasher))).toBe("ERR_AUDIT_BAD_RANGE");
  });

  it("refuses 0 = from, from > to with ERR_AUDIT_BAD_RANGE", () => {
    for (const [from, to] of [
      [0, 8],
      [5, 4],
      [0, 0],
      [-1, 3],
      [2, 2 ** 53],
    ] as const) {
      expect(syncCodeOf(() => verifyConsistencyProof(from, to, [], root, root, syncHasher))).toBe(
        "ERR_AUDIT_BAD_RANGE",
      );
      expect(syncCodeOf(() => consistencyProofRanges(from, to))).toBe("ERR_AUDIT_BAD_RANGE");
    }
  });

  it("refuses hashes that are not 32 bytes, and over-long proofs, before hashing", () => {
    expect(
      syncCodeOf(() => verifyInclusionProof(all[0]!, 0, 8, [new Uint8Array(31)], root, syncHasher)),
    ).toBe("ERR_AUDIT_BAD_PROOF");
    expect(syncCodeOf(() => verifyInclusionProof(all[0]!, 0, 8, [], root.subarray(1), syncHasher))).toBe(
      "ERR_AUDIT_BAD_PROOF",
    );
    const huge = Array.from({ length: 1000 }, () => root);
    expect(syncCodeOf(() => verifyInclusionProof(all[0]!, 0, 8, huge, root, syncHasher))).toBe(
      "ERR_AUDIT_BAD_PROOF",
    );
    expect(syncCodeOf(() => verifyConsistencyProof(3, 8, huge, root, root, syncHasher))).toBe(
      "ERR_AUDIT_BAD_PROOF",
    );
  });

  it("rejects (not throws) with the async hasher, so callers can .catch()", async () => {
    const pending = verifyInclusionProof(all[0]!, 9, 8, [], root);
    expect(pending).toBeInstanceOf(Promise);
    expect(await codeOf(() => pending)).toBe("ERR_AUDIT_BAD_RANGE");
  });

  it("works at sizes near 2^53 without 32-bit overflow", () => {
    const size = 2 ** 53 - 1;
    expect(inclusionProofRanges(size - 1, size).length).toBe(52);
    expect(inclusionProofRanges(0, size).length).toBe(53);
    const ranges = consistencyProofRanges(2 ** 40 + 3, size);
    expect(ranges.length).toBeGreaterThan(10);
    for (const r of ranges) expect(rangeNodes(r).length).toBeGreaterThan(0);
  });

  it("refuses a hasher that is not SHA-256-sized", () => {
    const bad = { sync: true as const, leaf: () => new Uint8Array(20), node: () => new Uint8Array(20) };
    expect(() => rootFromLeaves(all.slice(0, 2), bad)).toThrow(TypeError);
  });
});
