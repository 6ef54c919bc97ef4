/**
 * The entry bytes `Audit.record` writes are RFC 8785 canonical: equal, for any event, to what the
 * reference `canonicalize` package makes of the same object (property test), so the bytes stored
 * are the bytes a verifier re-canonicalizes and hashes.
 */
import canonicalizeModule from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FakeClock } from "../clock.js";
import type { Store } from "../store/index.js";
import { createTestStore } from "../test-support/store.js";
import { Audit, type AuditEvent, canonicalJson, entryBytes } from "./record.js";

const canonicalize = canonicalizeModule as unknown as (v: unknown) => string;

/** The entry as an object, exactly as record.ts documents it. */
function entryObject(e: AuditEvent, at: number, index: number) {
  return {
    v: 1,
    index,
    at: new Date(at).toISOString(),
    action: e.action,
    actor: {
      agent: e.actor.agent,
      chain: e.actor.chain,
      principal: e.actor.principal,
      ...(e.actor.kind ? { kind: e.actor.kind } : {}),
      ...(e.actor.resource_id ? { resource_id: e.actor.resource_id } : {}),
    },
    target: e.target ?? null,
    resource: e.resource ?? null,
    decision: e.decision,
    token_id: e.tokenId ?? null,
    grant_id: e.grantId ?? null,
    ...(e.request ? { request: e.request } : {}),
    details: e.details ?? {},
  };
}

const text = fc.string({ unit: "binary", maxLength: 12 });
const json = fc.jsonValue({ maxDepth: 3 });
const event: fc.Arbitrary<AuditEvent> = fc.record(
  {
    action: text,
    decision: fc.constantFrom("allowed", "denied", "info"),
    actor: fc.record(
      {
        agent: fc.option(text),
        chain: fc.array(text, { maxLength: 3 }),
        principal: fc.option(text),
        kind: text,
        resource_id: text,
      },
      { requiredKeys: ["agent", "chain", "principal"] },
    ),
    target: fc.option(text),
    resource: fc.option(text),
    tokenId: fc.option(text),
    grantId: fc.option(text),
    request: fc.record({ method: text, url: text, body_sha256: text }, { requiredKeys: ["method", "url"] }),
    details: fc.dictionary(text, json, { maxKeys: 5 }),
  },
  { requiredKeys: ["action", "decision", "actor"] },
) as fc.Arbitrary<AuditEvent>;

describe("entry bytes", () => {
  it("equal the reference RFC 8785 canonicalization for any event", () => {
    fc.assert(
      fc.property(
        event,
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 2 ** 53 - 1 }),
        (e, at, index) => {
          expect(entryBytes(e, new Date(at).toISOString(), index)).toBe(
            canonicalize(entryObject(e, at, index)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it("canonicalJson equals the reference for any JSON value, and refuses what JSON cannot carry", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(canonicalize(v));
      }),
      { numRuns: 500 },
    );
    expect(canonicalJson({ b: 1e21, a: -0, c: "\u2028\u0000é", "\u00e9": 1, z: 0.1 })).toBe(
      canonicalize({ b: 1e21, a: -0, c: "\u2028\u0000é", "\u00e9": 1, z: 0.1 }),
    );
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ n: 10n })).toThrow(TypeError);
  });
});

describe("standalone entries when the store is gone", () => {
  it("rejects them instead of retrying forever (a closed store fails before the batch is taken)", async () => {
    let attempts = 0;
    const closed = {
      transaction: () => {
        attempts++;
        return Promise.reject(new Error("driver has already been destroyed"));
      },
    } as unknown as Store;
    const audit = new Audit(closed, new FakeClock(0));
    const event: AuditEvent = {
      action: "broker.call_allowed",
      decision: "allowed",
      actor: { agent: null, chain: [], principal: null },
    };
    const results = await Promise.allSettled([audit.record(event), audit.record(event), audit.record(event)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    // A timer still fires: the event loop was never starved by a microtask loop.
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(attempts).toBeLessThanOrEqual(3);
  });
});

describe("standalone batches", () => {
  it("group the entries of one pass of the event loop, and of the callers a batch answered", async () => {
    const ts = await createTestStore();
    try {
      // Each batch reads the clock once: its entries share their `at`.
      let t = 0;
      const audit = new Audit(ts.store, { now: () => ++t });
      const event: AuditEvent = {
        action: "token.introspected",
        decision: "allowed",
        actor: { agent: "agt_1", chain: [], principal: "prn_1" },
      };
      // 40 appenders, each appending again as soon as it is answered (after yielding once, as a
      // request handler would): every batch carries all 40, never a few and then the rest.
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          for (let round = 0; round < 3; round++) {
            await audit.record(event);
            await new Promise((resolve) => setImmediate(resolve));
          }
        }),
      );
      const sizes = new Map<number, number>();
      for (const r of (await ts.store.audit.query({}, { limit: 1000 })).items) {
        sizes.set(r.at, (sizes.get(r.at) ?? 0) + 1);
      }
      expect([...sizes.values()]).toEqual([40, 40, 40]);
    } finally {
      await ts.cleanup();
    }
  });
});
