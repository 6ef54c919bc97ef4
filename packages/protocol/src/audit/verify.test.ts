import { describe, expect, it } from "vitest";
import { formatCheckpoint } from "./checkpoint.js";
import { emptyRoot } from "./hasher.js";
import { consistencyProof, inclusionProof, rootFromLeaves } from "./merkle.js";
import { parseSignerKey, signNote } from "./note.js";
import { codeOf, flipBit, syncCodeOf, syncHasher, utf8 } from "./test-support/helpers.js";
import {
  checkWitness,
  verifyCheckpoint,
  verifyConsistency,
  verifyEntries,
  verifyInclusion,
} from "./verify.js";

const entries = Array.from({ length: 20 }, (_, i) => utf8(`{"index":${i}}`));
const leafHashes = entries.map((e) => syncHasher.leaf(e));
const rootAt = (n: number) => rootFromLeaves(leafHashes.slice(0, n), syncHasher);

// golang.org/x/mod/sumdb/note test key, reused as a log key.
const SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

describe("verifyInclusion", () => {
  it("accepts the entry's exact bytes and refuses any other", async () => {
    const proof = inclusionProof(leafHashes, 7, 20, syncHasher);
    const check = { entryBytes: entries[7]!, index: 7, size: 20, proof, rootHash: rootAt(20) };
    await verifyInclusion(check);
    expect(verifyInclusion(check, syncHasher)).toBeUndefined();
    expect(await codeOf(() => verifyInclusion({ ...check, entryBytes: utf8('{"index":7} ') }))).toBe(
      "ERR_AUDIT_ROOT_MISMATCH",
    );
    expect(await codeOf(() => verifyInclusion({ ...check, index: 6 }))).toBe("ERR_AUDIT_ROOT_MISMATCH");
    expect(await codeOf(() => verifyInclusion({ ...check, index: 20 }))).toBe("ERR_AUDIT_BAD_RANGE");
  });
});

describe("verifyConsistency", () => {
  it("accepts an honest extension and refuses a rewritten one", async () => {
    const proof = consistencyProof(leafHashes, 5, 20, syncHasher);
    await verifyConsistency({ from: 5, to: 20, proof, oldRoot: rootAt(5), newRoot: rootAt(20) });
    expect(
      await codeOf(() =>
        verifyConsistency({ from: 5, to: 20, proof, oldRoot: flipBit(rootAt(5), 3), newRoot: rootAt(20) }),
      ),
    ).toBe("ERR_AUDIT_INCONSISTENT");
    expect(
      syncCodeOf(() =>
        verifyConsistency(
          { from: 5, to: 20, proof, oldRoot: rootAt(5), newRoot: flipBit(rootAt(20), 9) },
          syncHasher,
        ),
      ),
    ).toBe("ERR_AUDIT_INCONSISTENT");
    expect(
      await codeOf(() =>
        verifyConsistency({ from: 21, to: 20, proof, oldRoot: rootAt(5), newRoot: rootAt(20) }),
      ),
    ).toBe("ERR_AUDIT_BAD_RANGE");
  });
});

describe("verifyCheckpoint", () => {
  it("returns origin, size and root of a checkpoint signed by the log key", async () => {
    const signer = await parseSignerKey(SKEY);
    const note = await signNote(
      formatCheckpoint({ origin: "PeterNeumann", size: 20, rootHash: rootAt(20) }),
      signer,
    );
    expect(await verifyCheckpoint(note, VKEY, "PeterNeumann")).toEqual({
      origin: "PeterNeumann",
      size: 20,
      rootHash: rootAt(20),
      extensions: [],
    });
    expect(await codeOf(() => verifyCheckpoint(note, VKEY, "other"))).toBe("ERR_AUDIT_WRONG_ORIGIN");
  });

  it("reads the body only after the signature verified", async () => {
    const signer = await parseSignerKey(SKEY);
    const note = await signNote("not a checkpoint\n", signer);
    expect(await codeOf(() => verifyCheckpoint(note, VKEY, "PeterNeumann"))).toBe(
      "ERR_AUDIT_MALFORMED_CHECKPOINT",
    );
    // The same malformed body, unsigned by a known key: the signature problem is reported, not the body.
    expect(
      await codeOf(() => verifyCheckpoint(note.replace("PeterNeumann ", "Someone "), VKEY, "PeterNeumann")),
    ).toBe("ERR_AUDIT_UNKNOWN_KEY");
  });

  it("requires SHA-256('') as the root of the empty tree", async () => {
    const signer = await parseSignerKey(SKEY);
    const good = await signNote(formatCheckpoint({ origin: "o", size: 0, rootHash: emptyRoot() }), signer);
    expect((await verifyCheckpoint(good, VKEY, "o")).size).toBe(0);
    const bad = await signNote(formatCheckpoint({ origin: "o", size: 0, rootHash: rootAt(1) }), signer);
    expect(await codeOf(() => verifyCheckpoint(bad, VKEY, "o"))).toBe("ERR_AUDIT_ROOT_MISMATCH");
  });
});

describe("checkWitness", () => {
  const head = (n: number) => ({ size: n, rootHash: rootAt(n) });

  it("trusts the first checkpoint, then accepts only consistent growth", async () => {
    let witness = await checkWitness(null, head(3), []);
    expect(witness).toEqual(head(3));
    witness = await checkWitness(witness, head(3), []);
    witness = await checkWitness(witness, head(11), consistencyProof(leafHashes, 3, 11, syncHasher));
    witness = checkWitness(witness, head(20), consistencyProof(leafHashes, 11, 20, syncHasher), syncHasher);
    expect(witness).toEqual(head(20));
  });

  it("names forks, rollbacks and rewrites", async () => {
    const forked = { size: 11, rootHash: flipBit(rootAt(11), 0) };
    expect(await codeOf(() => checkWitness(head(11), forked, []))).toBe("ERR_AUDIT_FORK");
    expect(await codeOf(() => checkWitness(head(11), head(10), []))).toBe("ERR_AUDIT_ROLLBACK");
    const proof = consistencyProof(leafHashes, 11, 20, syncHasher);
    expect(await codeOf(() => checkWitness(forked, head(20), proof))).toBe("ERR_AUDIT_INCONSISTENT");
    expect(await codeOf(() => checkWitness(head(11), head(20), proof.slice(1)))).toMatch(
      /ERR_AUDIT_(BAD_PROOF|INCONSISTENT)/,
    );
    expect(await codeOf(() => checkWitness(head(11), head(20), []))).toBe("ERR_AUDIT_BAD_PROOF");
  });

  it("lets an empty witnessed tree grow without a proof", async () => {
    expect(await checkWitness({ size: 0, rootHash: emptyRoot() }, head(4), [])).toEqual(head(4));
    expect(await codeOf(() => checkWitness({ size: 0, rootHash: emptyRoot() }, head(4), [rootAt(4)]))).toBe(
      "ERR_AUDIT_BAD_PROOF",
    );
  });
});

describe("verifyEntries", () => {
  it("re-hashes the first `size` entries against the root", async () => {
    await verifyEntries({ entries, size: 20, rootHash: rootAt(20) });
    verifyEntries({ entries, size: 13, rootHash: rootAt(13) }, syncHasher);
    verifyEntries({ entries: [], size: 0, rootHash: emptyRoot() }, syncHasher);
    const edited = entries.map((e, i) => (i === 4 ? utf8('{"index":4,"x":1}') : e));
    expect(await codeOf(() => verifyEntries({ entries: edited, size: 20, rootHash: rootAt(20) }))).toBe(
      "ERR_AUDIT_ROOT_MISMATCH",
    );
    expect(
      syncCodeOf(() =>
        verifyEntries({ entries: entries.slice(0, 19), size: 20, rootHash: rootAt(20) }, syncHasher),
      ),
    ).toBe("ERR_AUDIT_ROOT_MISMATCH");
  });
});
