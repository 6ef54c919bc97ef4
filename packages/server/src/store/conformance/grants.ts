/**
 * Conformance tests for {@link GrantStore}.
 *
 * @example
 * describe("grants", () => grantTests(() => store));
 */
import { describe, expect, it } from "vitest";
import { type GrantRecord, type Store, StoreConflictError } from "../index.js";
import { byCreatedThenId, drain, grant, seedAgent, subAgent, T0, uid } from "./fixtures.js";

export function grantTests(s: () => Store): void {
  describe("grants", () => {
    it("round-trips a grant (scopes, resources, constraints) and returns null when absent", async () => {
      const { agent: a } = await seedAgent(s());
      const g = grant(a, { constraints: {}, scopes: [], resources: ["https://x.example"] });
      await s().grants.create(g);
      expect(await s().grants.get(g.id)).toEqual(g);
      expect(await s().grants.get("grt_missing")).toBeNull();
      await expect(s().grants.create(g)).rejects.toBeInstanceOf(StoreConflictError);
    });

    it("lists by agent, principal and status across pages", async () => {
      const seeded = await seedAgent(s());
      const other = await seedAgent(s());
      const made: GrantRecord[] = [seeded.grant];
      for (let i = 0; i < 6; i++) {
        const g = grant(seeded.agent, { createdAt: T0 + (i % 3), status: i === 2 ? "revoked" : "active" });
        made.push(g);
        await s().grants.create(g);
      }
      const byAgent = await drain((page) => s().grants.list({ agentId: seeded.agent.id }, page), 2);
      expect(byAgent.map((g) => g.id)).toEqual([...made].sort(byCreatedThenId).map((g) => g.id));
      const byPrincipal = await drain((page) => s().grants.list({ principalId: seeded.principal }, page), 5);
      expect(byPrincipal).toHaveLength(made.length);
      const revoked = await s().grants.list({ agentId: seeded.agent.id, status: "revoked" }, { limit: 1 });
      expect(revoked).toEqual({ items: [made[3]], hasMore: false });
      const all = await drain((page) => s().grants.list({}, page), 3);
      expect(all.map((g) => g.id).sort()).toEqual([...made, other.grant].map((g) => g.id).sort());
    });

    it("returns only active, unexpired grants of the agent", async () => {
      const { agent: a, grant: live } = await seedAgent(s());
      const other = await seedAgent(s());
      const expired = grant(a, { expiresAt: T0 + 100 });
      const revoked = grant(a, { status: "revoked", revokedAt: T0 });
      const later = grant(a, { createdAt: T0 + 1, expiresAt: T0 + 101 });
      for (const g of [expired, revoked, later]) await s().grants.create(g);
      const now = T0 + 100;
      expect((await s().grants.activeForAgent(a.id, now)).map((g) => g.id)).toEqual([live.id, later.id]);
      expect(await s().grants.activeForAgent(a.id, T0 + 3_600_000)).toEqual([]);
      expect((await s().grants.activeForAgent(other.agent.id, now)).map((g) => g.id)).toEqual([
        other.grant.id,
      ]);
      await s().grants.revoke([live.id], now);
      expect((await s().grants.activeForAgent(a.id, now)).map((g) => g.id)).toEqual([later.id]);
    });

    it("finds delegated descendants over three levels and grants by agents", async () => {
      const { agent: root, grant: g0 } = await seedAgent(s());
      const child = subAgent(root);
      const grandchild = subAgent(child);
      const great = subAgent(grandchild);
      for (const a of [child, grandchild, great]) await s().agents.create(a, []);
      const g1 = grant(child, { parentGrantId: g0.id });
      const g1b = grant(child, { parentGrantId: g0.id });
      const g2 = grant(grandchild, { parentGrantId: g1.id });
      const g3 = grant(great, { parentGrantId: g2.id });
      for (const g of [g1, g1b, g2, g3]) await s().grants.create(g);
      expect((await s().grants.descendants(g0.id)).sort()).toEqual([g1.id, g1b.id, g2.id, g3.id].sort());
      expect((await s().grants.descendants(g1.id)).sort()).toEqual([g2.id, g3.id].sort());
      expect(await s().grants.descendants(g3.id)).toEqual([]);
      expect((await s().grants.idsByAgents([child.id, great.id, "agt_missing"])).sort()).toEqual(
        [g1.id, g1b.id, g3.id].sort(),
      );
      expect(await s().grants.idsByAgents([])).toEqual([]);
      const many = Array.from({ length: 1_100 }, () => uid("agt"));
      many.push(root.id);
      expect(await s().grants.idsByAgents(many)).toEqual([g0.id]);
    });

    it("revokes monotonically; a revoked grant never returns to active", async () => {
      const { agent: a, grant: g } = await seedAgent(s());
      const h = grant(a);
      await s().grants.create(h);
      expect(await s().grants.revoke([g.id], T0 + 1)).toEqual([g.id]);
      expect(await s().grants.revoke([g.id, h.id, "grt_missing"], T0 + 2)).toEqual([h.id]);
      expect(await s().grants.revoke([g.id, h.id], T0 + 3)).toEqual([]);
      expect(await s().grants.revoke([], T0)).toEqual([]);
      expect(await s().grants.get(g.id)).toMatchObject({ status: "revoked", revokedAt: T0 + 1 });
      expect(await s().grants.get(h.id)).toMatchObject({ status: "revoked", revokedAt: T0 + 2 });
    });

    it("lets exactly max_tokens of 20 concurrent callers consume the budget", async () => {
      const { agent: a } = await seedAgent(s());
      const g = grant(a, { constraints: { max_tokens: 5 } });
      await s().grants.create(g);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => s().grants.consumeTokenBudget(g.id, 5)),
      );
      expect(results.filter(Boolean)).toHaveLength(5);
      expect((await s().grants.get(g.id))?.tokensIssued).toBe(5);
      expect(await s().grants.consumeTokenBudget(g.id, 5)).toBe(false);
      expect(await s().grants.consumeTokenBudget(g.id, 6)).toBe(true);
      expect(await s().grants.consumeTokenBudget("grt_missing", 5)).toBe(false);
    });

    it("counts tokens without a budget", async () => {
      const { grant: g } = await seedAgent(s());
      const results = await Promise.all(
        Array.from({ length: 7 }, () => s().grants.consumeTokenBudget(g.id, null)),
      );
      expect(results.every(Boolean)).toBe(true);
      expect((await s().grants.get(g.id))?.tokensIssued).toBe(7);
      expect(await s().grants.consumeTokenBudget("grt_missing", null)).toBe(false);
    });
  });
}
