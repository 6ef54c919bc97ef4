/**
 * The ledger against the protocol library: integrated in uneven batches (so the right edge is
 * reloaded from stored nodes as often as it is kept), every inclusion and consistency proof for
 * tree sizes 1..64 equals the reference generated from the leaves and verifies; checkpoints are
 * signed C2SP notes that verify with the published key; several integrators take turns.
 */
import {
  consistencyProof,
  inclusionProof,
  rootFromLeaves,
  verifyCheckpoint,
  verifyConsistencyProof,
  verifyInclusionProof,
} from "@deputy/protocol";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../clock.js";
import { MasterKeyRing } from "../crypto/master-key-ring.js";
import { createTestStore, type TestStore } from "../test-support/store.js";
import { hashEntry, merkleHasher } from "./hasher.js";
import { AuditLedger } from "./ledger.js";
import { consistencyProofFromStore, inclusionProofFromStore } from "./proofs.js";
import { Audit } from "./record.js";

const log = pino({ level: "silent" });
const masterKeys = MasterKeyRing.from([Buffer.alloc(32, 9)]);
const issuer = "https://deputy.example";
const toB64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

let ts: TestStore;
let clock: FakeClock;
let audit: Audit;
beforeEach(async () => {
  ts = await createTestStore();
  clock = new FakeClock(Date.UTC(2026, 0, 1));
  audit = new Audit(ts.store, clock);
});
afterEach(async () => ts.cleanup());

async function append(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.advance(1);
    await audit.record({
      action: "token.issued",
      decision: "allowed",
      actor: { agent: `agt_${i}`, chain: [], principal: "prn_x" },
    });
  }
}

async function allLeaves(): Promise<Uint8Array[]> {
  return (await ts.store.audit.entries(0, 1_000_000)).map((e) => hashEntry(e));
}

describe("audit ledger", () => {
  it("publishes a signed checkpoint of the empty tree on open, verifiable with its key", async () => {
    const ledger = await AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer });
    expect(ledger.origin).toBe("deputy.example/deputy-audit");
    expect(ledger.verifierKey).toMatch(/^deputy\.example\/deputy-audit\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    const head = await verifyCheckpoint(
      (await ledger.latestCheckpoint()).note,
      ledger.verifierKey,
      ledger.origin,
    );
    expect(head.size).toBe(0);
    expect(toB64(head.rootHash)).toBe("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    // The key survives a restart and stays the same.
    const again = await AuditLedger.open({
      store: ts.store,
      clock,
      log,
      masterKeys,
      issuer: "https://moved.example",
    });
    expect(again.verifierKey).toBe(ledger.verifierKey);
  });

  it("answers every proof for sizes 1..64 exactly as the reference, from stored nodes", async () => {
    const ledger = await AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer, batchSize: 7 });
    // Uneven batches: a fresh ledger (no kept range) must reload the right edge from the store.
    for (const n of [1, 2, 5, 8, 3, 13, 1, 31]) {
      await append(n);
      const fresh =
        n % 2 === 0 ? await AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer }) : ledger;
      await fresh.integrate();
    }
    const leaves = await allLeaves();
    expect(leaves).toHaveLength(64);
    const state = await ts.store.auditTree.state();
    expect(state.size).toBe(64);
    expect(toB64(state.rootHash)).toBe(toB64(rootFromLeaves(leaves, merkleHasher)));
    const stored = await ts.store.auditTree.leaves(0, 64);
    expect(stored.map(toB64)).toEqual(leaves.map(toB64));
    for (let size = 1; size <= 64; size++) {
      const root = rootFromLeaves(leaves.slice(0, size), merkleHasher);
      for (let index = 0; index < size; index++) {
        const proof = await inclusionProofFromStore(ts.store, index, size);
        expect(proof.map(toB64)).toEqual(inclusionProof(leaves, index, size, merkleHasher).map(toB64));
        verifyInclusionProof(leaves[index]!, index, size, proof, root, merkleHasher);
      }
      for (let from = 1; from <= size; from++) {
        const proof = await consistencyProofFromStore(ts.store, from, size);
        expect(proof.map(toB64)).toEqual(consistencyProof(leaves, from, size, merkleHasher).map(toB64));
        const oldRoot = rootFromLeaves(leaves.slice(0, from), merkleHasher);
        verifyConsistencyProof(from, size, proof, oldRoot, root, merkleHasher);
      }
    }
    // Stored: the 64 leaves and the 7 perfect subtrees of 16 or more leaves (levels 4, 5, 6); the
    // proofs above folded levels 1–3 from the leaves.
    const perLevel = await Promise.all(
      Array.from({ length: 7 }, async (_, level) => {
        const ids = Array.from({ length: 64 >> level }, (_, index) => ({ level, index }));
        return (await ts.store.auditTree.nodes(ids)).size;
      }),
    );
    expect(perLevel).toEqual([64, 0, 0, 0, 4, 2, 1]);
  });

  it("signs a checkpoint for every integrated size, matching the tree", async () => {
    const ledger = await AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer });
    await append(10);
    expect(await ledger.integrate()).toBe(10);
    const checkpoint = await ledger.latestCheckpoint();
    const head = await verifyCheckpoint(checkpoint.note, ledger.verifierKey, ledger.origin);
    expect(head.size).toBe(10);
    expect(toB64(head.rootHash)).toBe(toB64(rootFromLeaves(await allLeaves(), merkleHasher)));
    expect(checkpoint.note).toMatch(
      /^deputy\.example\/deputy-audit\n10\n[A-Za-z0-9+/]{43}=\n\n\u2014 deputy\.example\/deputy-audit [A-Za-z0-9+/]+=*\n$/,
    );
    // Idle: nothing new, no new checkpoint.
    expect(await ledger.integrate()).toBe(10);
    expect((await ledger.latestCheckpoint()).size).toBe(10);
  });

  it("writes the agent and token index once indexEvery entries wait or the log is idle; queries answer alike meanwhile", async () => {
    const ledger = await AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer, indexEvery: 8 });
    const agentEntries = async () =>
      (await ts.store.audit.query({ agent: "agt_1" }, { limit: 50, order: "asc" })).items.map((r) => r.index);
    await append(5); // agt_0 … agt_4
    expect(await ledger.integrate()).toBe(5);
    expect(await ts.store.auditTree.indexedSize()).toBe(0); // 5 < 8 waiting: scanned, not indexed
    expect(await agentEntries()).toEqual([1]);
    await append(5);
    expect(await ledger.integrate()).toBe(10);
    expect(await ts.store.auditTree.indexedSize()).toBe(10); // 10 ≥ 8: indexed up to the tree
    expect(await agentEntries()).toEqual([1, 6]);
    await append(2);
    expect(await ledger.integrate()).toBe(12);
    expect(await ts.store.auditTree.indexedSize()).toBe(10);
    expect(await agentEntries()).toEqual([1, 6, 11]);
    expect(await ledger.integrate()).toBe(12); // idle: the rest is indexed
    expect(await ts.store.auditTree.indexedSize()).toBe(12);
    expect(await agentEntries()).toEqual([1, 6, 11]);
  });

  it("lets several integrators race: the tree moves once per size and stays right", async () => {
    const ledgers = await Promise.all(
      [0, 1, 2].map(() =>
        AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer, batchSize: 5 }),
      ),
    );
    for (let round = 0; round < 4; round++) {
      await append(9);
      await Promise.all(ledgers.map((l) => l.integrate()));
    }
    const leaves = await allLeaves();
    const state = await ts.store.auditTree.state();
    expect(state.size).toBe(36);
    expect(toB64(state.rootHash)).toBe(toB64(rootFromLeaves(leaves, merkleHasher)));
    // Every ledger shares the one key created first.
    expect(new Set(ledgers.map((l) => l.verifierKey)).size).toBe(1);
  });

  it("publishes a checkpoint within a second of the newest entry when running", async () => {
    const ledger = await AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer });
    ledger.follow(audit);
    ledger.start();
    try {
      for (const burst of [1, 20, 3]) {
        await append(burst);
        const appendedAt = Date.now();
        const size = await ts.store.audit.size();
        let published = -1;
        while (Date.now() - appendedAt < 1000) {
          if ((await ledger.latestCheckpoint()).size >= size) {
            published = Date.now() - appendedAt;
            break;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(published).toBeGreaterThanOrEqual(0);
        expect(published).toBeLessThan(1000);
      }
    } finally {
      await ledger.stop();
    }
  });

  it("integrates committed standalone entries from its cache, and what a transaction appended from the store", async () => {
    const ledger = await AuditLedger.open({ store: ts.store, clock, log, masterKeys, issuer });
    ledger.follow(audit);
    ledger.start(); // offers are taken only while running
    await ledger.stop();
    const event = (agent: string) => ({
      action: "token.issued",
      decision: "allowed" as const,
      actor: { agent, chain: [], principal: "prn_x" },
    });
    const reads: Array<[number, number]> = [];
    const leafHashes = ts.store.audit.leafHashes.bind(ts.store.audit);
    ts.store.audit.leafHashes = async (start, end) => {
      reads.push([start, end]);
      return leafHashes(start, end);
    };
    // Standalone: committed when record() resolves, offered to the ledger.
    ledger.start();
    await Promise.all([audit.record(event("agt_a")), audit.record(event("agt_b"))]);
    await ledger.stop();
    expect(await ledger.integrate()).toBe(2);
    expect(reads).toEqual([]);
    // Inside a transaction that rolls back: index 2 is reused by the next entry, so the rolled-back
    // entry must never have been offered; the committed one is read back from the store.
    ledger.start();
    await expect(
      ts.store.transaction(async (tx) => {
        await audit.record(event("agt_rolled_back"), tx);
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    await ts.store.transaction(async (tx) => audit.record(event("agt_c"), tx));
    await audit.record(event("agt_d"));
    await ledger.stop();
    expect(await ledger.integrate()).toBe(4);
    expect(reads).toEqual([[2, 4]]);
    const state = await ts.store.auditTree.state();
    expect(toB64(state.rootHash)).toBe(toB64(rootFromLeaves(await allLeaves(), merkleHasher)));
    expect((await ts.store.audit.get(2))?.actorAgent).toBe("agt_c");
  });
});
