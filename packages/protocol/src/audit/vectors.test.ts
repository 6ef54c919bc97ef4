/**
 * Runs every vector of spec/vectors/audit against the library, and fails when the checked-in
 * files drift from what scripts/gen-audit-vectors.ts generates (or when a JSON file there is not
 * the generator's).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generate, serialize } from "../../../../scripts/gen-audit-vectors.ts";
import { parseCheckpoint } from "./checkpoint.js";
import { AuditVerificationError } from "./errors.js";
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  rootFromLeaves,
  verifyConsistencyProof,
  verifyInclusionProof,
} from "./merkle.js";
import { openNote, parseSignerKey, parseVerifierKey, signNote } from "./note.js";
import { fromB64, hex, syncHasher, toB64, toHex, utf8 } from "./test-support/helpers.js";
import { checkWitness, verifyCheckpoint, verifyEntries, verifyInclusion } from "./verify.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const DIR = "spec/vectors/audit";
const load = (file: string) => JSON.parse(readFileSync(join(ROOT, DIR, file), "utf8"));

interface Expectation {
  valid: boolean;
  code?: string;
}

/** Runs `fn`; asserts it succeeds when `expect.valid`, else that it fails with exactly `expect.code`. */
async function outcome(fn: () => unknown, expectation: Expectation, label: string): Promise<unknown> {
  let result: unknown;
  let error: unknown;
  try {
    result = await fn();
  } catch (e) {
    error = e;
  }
  if (expectation.valid) {
    expect(error, `${label}: ${String(error)}`).toBeUndefined();
  } else {
    expect(error, `${label}: expected ${expectation.code}`).toBeInstanceOf(AuditVerificationError);
    expect((error as AuditVerificationError).code, `${label}: ${(error as Error).message}`).toBe(
      expectation.code,
    );
  }
  return result;
}

describe("spec/vectors/audit", () => {
  it("are exactly what the generator produces (no drift, no stray files)", () => {
    const generated = generate();
    for (const [path, value] of Object.entries(generated)) {
      expect(
        readFileSync(join(ROOT, path), "utf8"),
        `${path} drifted: run npx tsx scripts/gen-audit-vectors.ts`,
      ).toBe(serialize(value));
    }
    const files = readdirSync(join(ROOT, DIR)).filter((f) => f.endsWith(".json"));
    expect(files.map((f) => `${DIR}/${f}`).sort()).toEqual(Object.keys(generated).sort());
  });

  it("rfc6962.json: roots, inclusion and consistency of the RFC 6962 reference tree", async () => {
    const v = load("rfc6962.json");
    const leaves = (v.leaves as string[]).map((l) => syncHasher.leaf(hex(l)));
    expect(toHex(await leafHash(new Uint8Array()))).toBe(v.hasher.empty_leaf);
    expect(toHex(await leafHash(utf8("L123456")))).toBe(v.hasher.leaf_L123456);
    expect(toHex(syncHasher.node(utf8("N123"), utf8("N456")))).toBe(v.hasher.node_N123_N456);
    expect(toHex(await rootFromLeaves([]))).toBe(v.hasher.empty_tree);
    for (const { size, root } of v.roots)
      expect(toHex(await rootFromLeaves(leaves.slice(0, size)))).toBe(root);
    for (const { index, size, proof } of v.inclusion) {
      expect((await inclusionProof(leaves, index, size)).map(toHex)).toEqual(proof);
      await verifyInclusionProof(leaves[index]!, index, size, proof.map(hex), hex(v.roots[size - 1].root));
    }
    for (const { from, to, proof } of v.consistency) {
      expect((await consistencyProof(leaves, from, to)).map(toHex)).toEqual(proof);
      await verifyConsistencyProof(
        from,
        to,
        proof.map(hex),
        hex(v.roots[from - 1].root),
        hex(v.roots[to - 1].root),
      );
    }
  });

  it("inclusion.json: every proof generates identically and verifies", async () => {
    const v = load("inclusion.json");
    const entries = (v.entries as string[]).map(utf8);
    const leaves = entries.map((e) => syncHasher.leaf(e));
    expect(leaves.map(toB64)).toEqual(v.leaf_hashes);
    expect(toB64(await leafHash(entries[0]!))).toBe(v.leaf_hashes[0]);
    let count = 0;
    for (const tree of v.trees) {
      const root = fromB64(tree.root);
      expect(toB64(rootFromLeaves(leaves.slice(0, tree.size), syncHasher))).toBe(tree.root);
      for (const { index, hashes } of tree.proofs) {
        expect(inclusionProof(leaves, index, tree.size, syncHasher).map(toB64)).toEqual(hashes);
        // The default (Web Crypto) path, from the entry bytes, as a client does it.
        await verifyInclusion({
          entryBytes: entries[index]!,
          index,
          size: tree.size,
          proof: hashes.map(fromB64),
          rootHash: root,
        });
        count++;
      }
    }
    expect(count).toBe(280);
  });

  it("consistency.json: all 2080 pairs generate identically and verify", async () => {
    const v = load("consistency.json");
    const leaves = (load("inclusion.json").entries as string[]).map((e) => syncHasher.leaf(utf8(e)));
    const roots = (v.roots as string[]).map(fromB64);
    expect(v.vectors).toHaveLength(2080);
    for (const { from, to, hashes } of v.vectors) {
      expect(consistencyProof(leaves, from, to, syncHasher).map(toB64)).toEqual(hashes);
      verifyConsistencyProof(from, to, hashes.map(fromB64), roots[from - 1]!, roots[to - 1]!, syncHasher);
    }
    // And a spread on the default async path.
    for (const { from, to, hashes } of v.vectors.filter((_: unknown, i: number) => i % 97 === 0)) {
      await verifyConsistencyProof(from, to, hashes.map(fromB64), roots[from - 1]!, roots[to - 1]!);
    }
  });

  it("checkpoints.json: every note verifies, and re-signing reproduces it", async () => {
    const v = load("checkpoints.json");
    const key = await parseVerifierKey(v.log_key.verifier_key);
    expect(toB64(key.publicKey)).toBe(v.log_key.public_key);
    expect(key.keyHash.toString(16).padStart(8, "0")).toBe(v.log_key.key_hash);
    const signer = await parseSignerKey(v.log_key.signer_key);
    for (const vector of v.vectors) {
      const cp = await verifyCheckpoint(vector.note, v.log_key.verifier_key, v.origin);
      expect({
        valid: true,
        origin: cp.origin,
        size: cp.size,
        root: toB64(cp.rootHash),
        extensions: cp.extensions,
      }).toEqual(vector.expect);
      const { text, signatures } = await openNote(vector.note, [key]);
      if (vector.signatures) {
        expect(
          signatures.map((s) => ({
            name: s.name,
            key_hash: s.keyHash.toString(16).padStart(8, "0"),
            verified: s.verified,
          })),
        ).toEqual(vector.signatures);
      } else {
        expect(await signNote(text, signer)).toBe(vector.note);
      }
    }
  });

  it("signed-note.json: golang.org/x/mod/sumdb/note's vectors", async () => {
    const v = load("signed-note.json");
    for (const s of v.sign) {
      expect(await signNote(s.text, await parseSignerKey(s.signer_key))).toBe(s.note);
      await openNote(s.note, [s.verifier_key]);
    }
    for (const o of v.open) {
      const opened = (await outcome(() => openNote(o.note, o.verifier_keys), o.expect, o.name)) as Awaited<
        ReturnType<typeof openNote>
      >;
      if (o.expect.valid) {
        expect(opened.text).toBe(o.expect.text);
        expect(
          opened.signatures.map((s) => ({
            name: s.name,
            key_hash: s.keyHash.toString(16).padStart(8, "0"),
            verified: s.verified,
          })),
        ).toEqual(o.expect.signatures);
      }
    }
    for (const k of v.verifier_keys) {
      const key = (await outcome(() => parseVerifierKey(k.verifier_key), k.expect, k.name)) as {
        name: string;
        keyHash: number;
      };
      if (k.expect.valid)
        expect({ name: key.name, key_hash: key.keyHash.toString(16) }).toEqual({
          name: k.expect.name,
          key_hash: k.expect.key_hash,
        });
    }
  });

  it("attacks.json: every attack fails with exactly its code", async () => {
    const v = load("attacks.json");
    const key = v.verifier_key as string;
    const origin = v.origin as string;
    const kinds = new Set<string>();
    for (const a of v.vectors) {
      kinds.add(a.kind);
      const input = a.input;
      const run = async (): Promise<unknown> => {
        switch (a.kind) {
          case "inclusion":
            return verifyInclusion({
              entryBytes: utf8(input.entry),
              index: input.index,
              size: input.size,
              proof: input.hashes.map(fromB64),
              rootHash: fromB64(input.root),
            });
          case "log": {
            const cp = await verifyCheckpoint(input.checkpoint, key, origin);
            return verifyEntries({ entries: input.entries.map(utf8), size: cp.size, rootHash: cp.rootHash });
          }
          case "witness": {
            // Both checkpoints are genuinely signed by the log: the attack is in what they say.
            const previous = await verifyCheckpoint(input.previous.note, key, origin);
            const next = await verifyCheckpoint(input.next.note, key, origin);
            expect([previous.size, toB64(previous.rootHash)]).toEqual([
              input.previous.size,
              input.previous.root,
            ]);
            expect([next.size, toB64(next.rootHash)]).toEqual([input.next.size, input.next.root]);
            return checkWitness(previous, next, input.hashes.map(fromB64));
          }
          case "checkpoint":
            return verifyCheckpoint(input.note, key, origin);
          case "checkpoint-body":
            return parseCheckpoint(input.body);
          case "verifier-key":
            return parseVerifierKey(input.verifier_key);
          default:
            throw new Error(`unknown kind ${a.kind}`);
        }
      };
      await outcome(run, a.expect, a.name);
    }
    expect([...kinds].sort()).toEqual([
      "checkpoint",
      "checkpoint-body",
      "inclusion",
      "log",
      "verifier-key",
      "witness",
    ]);
    const names = v.vectors.map((a: { name: string }) => a.name);
    for (const required of [
      "edited-entry",
      "reordered-entries",
      "truncated-log",
      "inserted-entry",
      "forked-checkpoints",
      "bad-signature",
      "wrong-key-name",
      "wrong-key-hash",
      "rollback",
      "malformed-checkpoint-leading-zeros",
      "malformed-checkpoint-missing-newline",
      "malformed-checkpoint-non-base64-root",
    ]) {
      expect(names).toContain(required);
    }
  });
});
