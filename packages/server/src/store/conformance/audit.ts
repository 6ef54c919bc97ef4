/**
 * Conformance tests for {@link AuditStore}.
 *
 * @example
 * describe("audit", () => auditTests(() => store));
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AuditRecord, Store } from "../index.js";
import { auditFields, entryFor, T0 } from "./fixtures.js";

export function auditTests(s: () => Store): void {
  describe("audit", () => {
    it("appends at dense indexes from 0 and round-trips every column", async () => {
      expect(await s().audit.size()).toBe(0);
      expect(await s().audit.get(0)).toBeNull();
      const f0 = auditFields();
      const f1 = auditFields({
        decision: "denied",
        actorAgent: null,
        actorChain: [],
        actorPrincipal: null,
        target: null,
        resource: null,
        tokenId: null,
        grantId: null,
      });
      expect(await s().audit.append(f0, entryFor(f0))).toBe(0);
      expect(await s().audit.append(f1, entryFor(f1))).toBe(1);
      expect(await s().audit.size()).toBe(2);
      expect(await s().audit.get(0)).toEqual({ ...f0, index: 0, entry: JSON.stringify({ index: 0, ...f0 }) });
      expect(await s().audit.get(1)).toEqual({ ...f1, index: 1, entry: JSON.stringify({ index: 1, ...f1 }) });
      expect(await s().audit.get(2)).toBeNull();
    });

    it("keeps indexes dense under 50 concurrent appends, each in its own transaction", async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          s().transaction(async (tx) => {
            const f = auditFields({ action: `a${n}` });
            return tx.audit.append(f, entryFor(f));
          }),
        ),
      );
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(await s().audit.size()).toBe(50);
      const page = await s().audit.query({}, { limit: 100 });
      expect(page.hasMore).toBe(false);
      for (const [i, r] of page.items.entries()) {
        expect(r.index).toBe(i);
        expect(JSON.parse(r.entry).index).toBe(i);
      }
    });

    it("keeps indexes dense when appends run outside transactions", async () => {
      const f = auditFields();
      const results = await Promise.all(Array.from({ length: 20 }, () => s().audit.append(f, entryFor(f))));
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it("stores a batch whose query columns hold U+0000 or an unpaired surrogate, the entry exactly", async () => {
      const odd = auditFields({ target: "t\u0000\ud800", resource: "r\udc00" });
      const plain = auditFields();
      const [a, b] = await s().audit.appendMany([
        { fields: odd, entry: entryFor(odd) },
        { fields: plain, entry: entryFor(plain) },
      ]);
      const stored = await s().audit.get(a!);
      expect(stored?.entry).toBe(JSON.stringify({ index: a, ...odd }));
      // The query columns hold U+FFFD in their place, on every store.
      expect(stored?.target).toBe("t\ufffd\ufffd");
      expect(stored?.resource).toBe("r\ufffd");
      expect((await s().audit.get(b!))?.entry).toBe(JSON.stringify({ index: b, ...plain }));
    });

    it("stores an entry's bytes exactly, whatever characters its template holds", async () => {
      const f = auditFields({ action: "weird" });
      // Quotes, backslashes, escapes as text, non-BMP and combining characters, JSON-ish noise.
      const entry = { head: '{"q":"\\"\\\\ \\u0000 ☃ 𝄞 é","index":', tail: ',"t":"}{[]"}' };
      const i = await s().audit.append(f, entry);
      expect((await s().audit.get(i))?.entry).toBe(`${entry.head}${i}${entry.tail}`);
      const [a, b] = await s().audit.appendMany([
        { fields: f, entry },
        { fields: f, entry: { head: "", tail: "" } },
      ]);
      expect((await s().audit.get(a!))?.entry).toBe(`${entry.head}${a}${entry.tail}`);
      expect((await s().audit.get(b!))?.entry).toBe(String(b));
    });

    it("stores a batch exactly whatever its columns and templates hold: separators, quotes, line feeds", async () => {
      // Array-literal and separator characters in the query columns; NULLs among them; a line
      // feed, U+0001 and an empty string, which a column joined by line feeds cannot carry.
      const odd = auditFields({
        target: 'a,b"c{}\\ NULL',
        resource: null,
        actorChain: ['x"y', "{z}"],
        actorPrincipal: "line\nfeed",
        actorAgent: "\u0001",
        grantId: "",
      });
      const plain = auditFields();
      const lf = { head: '{"a":"line\nfeed","index":', tail: "}" }; // a raw line feed: not canonical JSON
      const batches = [
        [
          { fields: odd, entry: entryFor(odd) },
          { fields: plain, entry: entryFor(plain) },
        ],
        [
          { fields: plain, entry: entryFor(plain) },
          { fields: odd, entry: lf },
        ],
      ];
      for (const batch of batches) {
        const indexes = await s().audit.appendMany(batch);
        for (const [k, index] of indexes.entries()) {
          const stored = await s().audit.get(index);
          const { entry } = batch[k]!;
          expect(stored?.entry).toBe(`${entry.head}${index}${entry.tail}`);
          expect(stored).toMatchObject({ ...batch[k]!.fields, index });
        }
      }
    });

    it("hashes the stored bytes of each entry into its RFC 9162 leaf, whatever its characters", async () => {
      const f = auditFields({ action: "weird" });
      const templates = [
        { head: '{"q":"\\"\\\\ \\u0000 ☃ 𝄞 é","index":', tail: ',"t":"}{[]"}' },
        { head: "", tail: "" },
        { head: '{"x":"\ufffd","index":', tail: "}" },
      ];
      const indexes = await s().audit.appendMany(templates.map((entry) => ({ fields: f, entry })));
      // Expected from the templates themselves, not from what the store reads back: RFC 9162
      // §2.1.1, SHA-256(0x00 || UTF-8 bytes of the entry).
      const expected = templates.map((tp, k) =>
        createHash("sha256")
          .update(Buffer.from([0]))
          .update(Buffer.from(`${tp.head}${indexes[k]}${tp.tail}`, "utf8"))
          .digest("hex"),
      );
      const leaves = await s().audit.leafHashes(indexes[0]!, indexes[2]! + 1);
      expect(leaves.map((l) => Buffer.from(l).toString("hex"))).toEqual(expected);
      // Past the end: stops at the first missing index.
      expect(await s().audit.leafHashes(indexes[2]!, indexes[2]! + 5)).toHaveLength(1);
      expect(await s().audit.leafHashes(indexes[2]! + 1, indexes[2]! + 5)).toEqual([]);
    });

    it("rolls the head back with the transaction", async () => {
      const f = auditFields();
      await s().audit.append(f, entryFor(f));
      await expect(
        s().transaction(async (tx) => {
          await tx.audit.append(f, entryFor(f));
          throw new Error("abort");
        }),
      ).rejects.toThrow("abort");
      expect(await s().audit.size()).toBe(1);
      expect(await s().audit.append(f, entryFor(f))).toBe(1);
    });

    it("filters by agent, principal, action, token and time, in index order", async () => {
      const rows: Array<Omit<AuditRecord, "index" | "entry">> = [
        auditFields({
          at: T0,
          actorAgent: "agt_a",
          actorPrincipal: "prn_x",
          action: "token.issue",
          tokenId: "tok_1",
        }),
        auditFields({
          at: T0 + 1,
          actorAgent: "agt_b",
          actorPrincipal: "prn_x",
          action: "agent.revoke",
          tokenId: null,
        }),
        auditFields({
          at: T0 + 2,
          actorAgent: "agt_a",
          actorPrincipal: "prn_y",
          action: "token.issue",
          tokenId: "tok_2",
        }),
        auditFields({
          at: T0 + 3,
          actorAgent: null,
          actorPrincipal: "prn_x",
          action: "grant.create",
          tokenId: null,
        }),
        auditFields({
          at: T0 + 4,
          actorAgent: "agt_a",
          actorPrincipal: "prn_x",
          action: "token.issue",
          tokenId: "tok_1",
        }),
      ];
      for (const r of rows) await s().audit.append(r, entryFor(r));
      const idx = async (filter: Parameters<Store["audit"]["query"]>[0], afterIndex?: number) =>
        (await s().audit.query(filter, { limit: 100, afterIndex })).items.map((r) => r.index);
      expect(await idx({ agent: "agt_a" })).toEqual([0, 2, 4]);
      expect(await idx({ principal: "prn_x" })).toEqual([0, 1, 3, 4]);
      expect(await idx({ action: "token.issue" })).toEqual([0, 2, 4]);
      expect(await idx({ tokenId: "tok_1" })).toEqual([0, 4]);
      expect(await idx({ since: T0 + 1, until: T0 + 3 })).toEqual([1, 2, 3]);
      expect(await idx({ agent: "agt_a", principal: "prn_x" })).toEqual([0, 4]);
      expect(await idx({ agent: "agt_a" }, 0)).toEqual([2, 4]);
      expect(await idx({}, 4)).toEqual([]);
      expect(await idx({ agent: "agt_missing" })).toEqual([]);
      const first = await s().audit.query({ principal: "prn_x" }, { limit: 2 });
      expect(first.items.map((r) => r.index)).toEqual([0, 1]);
      expect(first.hasMore).toBe(true);
      const second = await s().audit.query({ principal: "prn_x" }, { limit: 2, afterIndex: 1 });
      expect(second.items.map((r) => r.index)).toEqual([3, 4]);
      expect(second.hasMore).toBe(false);
    });

    it("answers entries by any indexed key alike below and past the index and the tree, either order (property)", async () => {
      // The index of agent, token, principal, resource, decision and action keys is written by
      // the integrator (AuditTreeStore.indexEntries) up to its indexed size; queries read it
      // below that and scan the log past it. Any split must page through the same entries
      // exactly once, alone or with another filter.
      const agents = ["agt_p", "agt_q", "agt_r"];
      const tokens = ["tok_1", "tok_2"];
      const principals = ["prn_a", "prn_b"];
      const resources = ["https://r1.example", "https://r2.example"];
      type Row = {
        actor: string | null;
        token: string | null;
        act: string;
        principal: string | null;
        resource: string | null;
        decision: "allowed" | "denied" | "error";
      };
      const row = fc.record<Row>({
        actor: fc.constantFrom(...agents, null),
        token: fc.constantFrom(...tokens, null),
        act: fc.constantFrom("a.x", "a.y"),
        principal: fc.constantFrom(...principals, null),
        resource: fc.constantFrom(...resources, null),
        decision: fc.constantFrom("allowed" as const, "denied" as const, "error" as const),
      });
      const named = (r: Row, w: Record<string, string>) =>
        ("agent" in w ? r.actor === w.agent : true) &&
        ("tokenId" in w ? r.token === w.tokenId : true) &&
        ("principal" in w ? r.principal === w.principal : true) &&
        ("resource" in w ? r.resource === w.resource : true) &&
        ("decision" in w ? r.decision === w.decision : true) &&
        ("action" in w ? r.act === w.action : true);
      await fc.assert(
        fc.asyncProperty(
          fc.array(row, { minLength: 1, maxLength: 12 }),
          fc.oneof(
            fc.record({ agent: fc.constantFrom(...agents) }),
            fc.record({ tokenId: fc.constantFrom(...tokens) }),
            fc.record({ principal: fc.constantFrom(...principals) }),
            fc.record({ resource: fc.constantFrom(...resources) }),
            fc.record({ decision: fc.constantFrom("allowed" as const, "denied" as const, "error" as const) }),
            fc.record({ action: fc.constantFrom("a.x", "a.y") }),
          ),
          fc.option(fc.constantFrom("a.x", "a.y"), { nil: undefined }),
          fc.integer({ min: 1, max: 4 }),
          fc.nat(),
          fc.nat(),
          fc.constantFrom("asc" as const, "desc" as const),
          async (rows, wanted: Record<string, string>, second, limit, splitSeed, treeSeed, order) => {
            // A second filter, on the action, unless the action is the key already.
            const action = "action" in wanted ? undefined : second;
            const first = await s().audit.size();
            const expected: number[] = [];
            for (const r of rows) {
              const f = auditFields({
                actorAgent: r.actor,
                tokenId: r.token,
                action: r.act,
                actorPrincipal: r.principal,
                resource: r.resource,
                decision: r.decision,
              });
              const i = await s().audit.append(f, entryFor(f));
              if (named(r, wanted) && (action === undefined || r.act === action)) expected.push(i);
            }
            const end = await s().audit.size();
            const state = await s().auditTree.state();
            // Indexed up to `split`, integrated up to `tree`, appended up to `end`.
            const split = state.size + (splitSeed % (end - state.size + 1));
            const tree = split + (treeSeed % (end - split + 1));
            await s().transaction(async (tx) => {
              const locked = (await tx.auditTree.lockState())!;
              await tx.auditTree.setState({ size: tree, rootHash: locked.rootHash, updatedAt: T0 });
              await tx.auditTree.indexEntries(await tx.auditTree.indexedSize(), split);
            });
            // The next run starts where the index ends: catch it up to the tree.
            const next = async () =>
              s().transaction(async (tx) =>
                tx.auditTree.indexEntries(await tx.auditTree.indexedSize(), tree),
              );
            const got: number[] = [];
            let bound = order === "asc" ? first - 1 : end;
            for (;;) {
              const page = await s().audit.query(
                { ...wanted, ...(action !== undefined ? { action } : {}) },
                order === "asc"
                  ? { limit, afterIndex: bound, order }
                  : { limit, beforeIndex: bound, afterIndex: first - 1, order },
              );
              got.push(...page.items.map((r) => r.index));
              const last = page.items.at(-1);
              if (!page.hasMore || !last) break;
              bound = last.index;
            }
            expect(got).toEqual(order === "asc" ? expected : expected.reverse());
            await next();
            expect(await s().auditTree.indexedSize()).toBe(tree);
          },
        ),
        { numRuns: 60, seed: 11 },
      );
    });

    it("pages through a filtered log exactly once, in order (property)", async () => {
      const agents = ["agt_p", "agt_q", "agt_r"];
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom(...agents), { maxLength: 12 }),
          fc.constantFrom(...agents),
          fc.integer({ min: 1, max: 4 }),
          async (actors, wanted, limit) => {
            const expected: number[] = [];
            for (const actor of actors) {
              const f = auditFields({ actorAgent: actor });
              const i = await s().audit.append(f, entryFor(f));
              if (actor === wanted) expected.push(i);
            }
            const start = (await s().audit.size()) - actors.length - 1;
            const got: number[] = [];
            let after: number | undefined = start < 0 ? undefined : start;
            for (;;) {
              const page = await s().audit.query({ agent: wanted }, { limit, afterIndex: after });
              got.push(...page.items.map((r) => r.index));
              const last = page.items.at(-1);
              if (!page.hasMore || !last) break;
              after = last.index;
            }
            expect(got).toEqual(expected);
          },
        ),
        { numRuns: 10 },
      );
    });
  });
}
