/**
 * Conformance tests for {@link AgentStore}.
 *
 * @example
 * describe("agents", () => agentTests(() => store));
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AgentRecord, type Store, StoreConflictError } from "../index.js";
import { agent, agentKey, byCreatedThenId, drain, principal, subAgent, T0, uid } from "./fixtures.js";

export function agentTests(s: () => Store): void {
  describe("agents", () => {
    async function newPrincipal(): Promise<string> {
      const p = principal();
      await s().principals.create(p);
      return p.id;
    }

    it("round-trips an agent with its keys (JSON columns included)", async () => {
      const pid = await newPrincipal();
      const a = agent(pid);
      const keys = [agentKey(a.id, { createdAt: T0 }), agentKey(a.id, { alg: "ES256", createdAt: T0 + 1 })];
      await s().agents.create(a, keys);
      expect(await s().agents.get(a.id)).toEqual(a);
      expect(await s().agents.keys(a.id)).toEqual(keys);
      const bare = agent(pid, { provenance: null, description: null });
      await s().agents.create(bare, []);
      expect(await s().agents.get(bare.id)).toEqual(bare);
      expect(await s().agents.keys(bare.id)).toEqual([]);
      expect(await s().agents.get("agt_missing")).toBeNull();
    });

    it("rejects a duplicate id and writes none of the clashing call's keys", async () => {
      const pid = await newPrincipal();
      const a = agent(pid);
      const k1 = agentKey(a.id);
      await s().agents.create(a, [k1]);
      await expect(s().agents.create(a, [agentKey(a.id)])).rejects.toBeInstanceOf(StoreConflictError);
      expect(await s().agents.keys(a.id)).toEqual([k1]);
    });

    it("is atomic: a clashing key leaves no agent behind", async () => {
      const pid = await newPrincipal();
      const a = agent(pid);
      const k = agentKey(a.id);
      await expect(s().agents.create(a, [k, { ...k }])).rejects.toBeInstanceOf(StoreConflictError);
      expect(await s().agents.get(a.id)).toBeNull();
    });

    it("lists by principal, parent and status with keyset pagination", async () => {
      const pid = await newPrincipal();
      const other = await newPrincipal();
      const root = agent(pid, { createdAt: T0 });
      await s().agents.create(root, []);
      const children: AgentRecord[] = [];
      for (let i = 0; i < 7; i++) {
        const c = subAgent(root, { createdAt: T0 + (i % 2), status: i === 3 ? "revoked" : "active" });
        children.push(c);
        await s().agents.create(c, []);
      }
      await s().agents.create(agent(other), []);
      const mine = await drain((page) => s().agents.list({ principalId: pid }, page), 3);
      expect(mine.map((a) => a.id)).toEqual([root, ...children].sort(byCreatedThenId).map((a) => a.id));
      const kids = await drain((page) => s().agents.list({ parentId: root.id }, page), 2);
      expect(kids.map((a) => a.id)).toEqual([...children].sort(byCreatedThenId).map((a) => a.id));
      const revoked = await s().agents.list({ principalId: pid, status: "revoked" }, { limit: 10 });
      expect(revoked.items.map((a) => a.id)).toEqual([children[3]?.id]);
      expect(revoked.hasMore).toBe(false);
      const everyone = await drain((page) => s().agents.list({}, page), 4);
      expect(everyone).toHaveLength(9);
    });

    it("paginates any data set exactly once, in order (property)", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 14 }),
          fc.integer({ min: 1, max: 5 }),
          async (offsets, limit) => {
            const pid = await newPrincipal();
            const made = offsets.map((o) => agent(pid, { createdAt: T0 + o }));
            for (const a of made) await s().agents.create(a, []);
            const got = await drain((page) => s().agents.list({ principalId: pid }, page), limit);
            expect(got.map((a) => a.id)).toEqual(made.sort(byCreatedThenId).map((a) => a.id));
          },
        ),
        { numRuns: 15 },
      );
    });

    it("finds descendants over three levels, and every agent of a principal", async () => {
      const pid = await newPrincipal();
      const root = agent(pid);
      const child = subAgent(root);
      const sibling = subAgent(root);
      const grandchild = subAgent(child);
      const great = subAgent(grandchild);
      for (const a of [root, child, sibling, grandchild, great]) await s().agents.create(a, []);
      const unrelated = agent(await newPrincipal());
      await s().agents.create(unrelated, []);
      expect((await s().agents.descendants(root.id)).sort()).toEqual(
        [child.id, sibling.id, grandchild.id, great.id].sort(),
      );
      expect((await s().agents.descendants(child.id)).sort()).toEqual([grandchild.id, great.id].sort());
      expect(await s().agents.descendants(great.id)).toEqual([]);
      expect(await s().agents.descendants("agt_missing")).toEqual([]);
      expect((await s().agents.idsByPrincipal(pid)).sort()).toEqual(
        [root.id, child.id, sibling.id, grandchild.id, great.id].sort(),
      );
      expect(await s().agents.idsByPrincipal("prn_missing")).toEqual([]);
    });

    it("revokes monotonically: the first revokedAt and reason stick", async () => {
      const pid = await newPrincipal();
      const [a, b, c] = [agent(pid), agent(pid), agent(pid)] as [AgentRecord, AgentRecord, AgentRecord];
      for (const x of [a, b, c]) await s().agents.create(x, []);
      expect((await s().agents.revoke([a.id, b.id], T0 + 1, "compromised")).sort()).toEqual(
        [a.id, b.id].sort(),
      );
      expect(await s().agents.revoke([a.id, c.id, "agt_missing"], T0 + 2, null)).toEqual([c.id]);
      expect(await s().agents.revoke([a.id, b.id, c.id], T0 + 3, "again")).toEqual([]);
      expect(await s().agents.revoke([], T0, null)).toEqual([]);
      expect(await s().agents.get(a.id)).toMatchObject({
        status: "revoked",
        revokedAt: T0 + 1,
        revokeReason: "compromised",
      });
      expect(await s().agents.get(c.id)).toMatchObject({
        status: "revoked",
        revokedAt: T0 + 2,
        revokeReason: null,
      });
    });

    it("revokes lists longer than one IN-chunk", async () => {
      const pid = await newPrincipal();
      const a = agent(pid);
      await s().agents.create(a, []);
      const ids = Array.from({ length: 1_200 }, () => uid("agt"));
      ids.splice(777, 0, a.id);
      expect(await s().agents.revoke(ids, T0, "bulk")).toEqual([a.id]);
    });

    it("keeps the first revocation under random revoke sequences (property)", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.subarray([0, 1, 2, 3]), { minLength: 1, maxLength: 6 }),
          async (batches) => {
            const pid = await newPrincipal();
            const agents = [agent(pid), agent(pid), agent(pid), agent(pid)];
            for (const x of agents) await s().agents.create(x, []);
            const first = new Map<string, number>();
            for (const [step, batch] of batches.entries()) {
              const ids = batch.map((i) => agents[i]?.id ?? "");
              const changed = await s().agents.revoke(ids, T0 + step, `step ${step}`);
              const expected = ids.filter((id) => !first.has(id));
              expect(changed.sort()).toEqual(expected.sort());
              for (const id of expected) first.set(id, T0 + step);
            }
            for (const x of agents) {
              const got = await s().agents.get(x.id);
              const at = first.get(x.id);
              if (at === undefined) expect(got).toMatchObject({ status: "active", revokedAt: null });
              else
                expect(got).toMatchObject({
                  status: "revoked",
                  revokedAt: at,
                  revokeReason: `step ${at - T0}`,
                });
            }
          },
        ),
        { numRuns: 10 },
      );
    });

    it("adds, finds and removes keys; a kid is never reusable", async () => {
      const a = agent(await newPrincipal());
      await s().agents.create(a, []);
      const k = agentKey(a.id);
      await s().agents.addKey(k);
      expect(await s().agents.key(a.id, k.kid)).toEqual(k);
      expect(await s().agents.key(a.id, "kid_missing")).toBeNull();
      expect(await s().agents.key("agt_missing", k.kid)).toBeNull();
      await expect(s().agents.addKey({ ...k })).rejects.toBeInstanceOf(StoreConflictError);
      expect(await s().agents.removeKey(a.id, k.kid, T0 + 1)).toBe(true);
      expect(await s().agents.removeKey(a.id, k.kid, T0 + 2)).toBe(false);
      expect(await s().agents.removeKey(a.id, "kid_missing", T0)).toBe(false);
      expect(await s().agents.key(a.id, k.kid)).toBeNull();
      expect(await s().agents.keys(a.id)).toEqual([]);
      await expect(s().agents.addKey({ ...k, removedAt: null })).rejects.toBeInstanceOf(StoreConflictError);
    });
  });
}
