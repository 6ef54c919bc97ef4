/**
 * Conformance tests for {@link TokenStore}.
 *
 * @example
 * describe("tokens", () => tokenTests(() => store));
 */
import { describe, expect, it } from "vitest";
import { type Store, StoreConflictError, type TokenRecord } from "../index.js";
import { grant, seedAgent, T0, token } from "./fixtures.js";

export function tokenTests(s: () => Store): void {
  describe("tokens", () => {
    it("round-trips a token; null when absent; duplicate jti conflicts", async () => {
      const { grant: g } = await seedAgent(s());
      const t = token(g, { statusIdx: 42 });
      const bearer = token(g, { jkt: null, parentTokenId: t.id, statusIdx: 43 });
      await s().tokens.create(t);
      await s().tokens.create(bearer);
      expect(await s().tokens.get(t.id)).toEqual(t);
      expect(await s().tokens.get(bearer.id)).toEqual(bearer);
      expect(await s().tokens.get("tok_missing")).toBeNull();
      await expect(s().tokens.create(t)).rejects.toBeInstanceOf(StoreConflictError);
    });

    it("allocates status indexes that are unique and increasing, even concurrently", async () => {
      const a = await s().tokens.nextStatusIndex();
      const b = await s().tokens.nextStatusIndex();
      expect(Number.isSafeInteger(a) && a >= 0).toBe(true);
      expect(b).toBeGreaterThan(a);
      const many = await Promise.all(Array.from({ length: 50 }, () => s().tokens.nextStatusIndex()));
      expect(new Set([a, b, ...many]).size).toBe(52);
      expect(Math.min(...many)).toBeGreaterThan(b);
      const inTx = await s().transaction(async (tx) => [
        await tx.tokens.nextStatusIndex(),
        await tx.tokens.nextStatusIndex(),
      ]);
      expect(inTx[1]).toBe((inTx[0] ?? 0) + 1);
      expect(inTx[0]).toBeGreaterThan(Math.max(...many));
    });

    it("reserves status-index blocks that never overlap, even concurrently", async () => {
      const single = await s().tokens.nextStatusIndex();
      const blocks = await Promise.all(Array.from({ length: 8 }, () => s().tokens.reserveStatusIndexes(64)));
      const all = [single, ...blocks.flat(), await s().tokens.nextStatusIndex()];
      expect(blocks.every((b) => b.length === 64)).toBe(true);
      expect(new Set(all).size).toBe(all.length);
      expect(all.every((i) => Number.isSafeInteger(i) && i >= 0)).toBe(true);
    });

    it("revokes monotonically", async () => {
      const { grant: g } = await seedAgent(s());
      const t = token(g);
      await s().tokens.create(t);
      expect(await s().tokens.revoke(t.id, T0 + 1)).toBe(true);
      expect(await s().tokens.revoke(t.id, T0 + 2)).toBe(false);
      expect(await s().tokens.revoke("tok_missing", T0)).toBe(false);
      expect((await s().tokens.get(t.id))?.revokedAt).toBe(T0 + 1);
    });

    it("lists the tokens a grant revocation takes down, and derives their state from the grant", async () => {
      const { agent: a, grant: g1 } = await seedAgent(s());
      const g2 = grant(a);
      const g3 = grant(a);
      for (const g of [g2, g3]) await s().grants.create(g);
      const ts = [token(g1), token(g1), token(g2), token(g3, { revokedAt: T0 }), token(g3)];
      for (const t of ts) await s().tokens.create(t);
      await s().tokens.revoke(ts[0]?.id ?? "", T0 + 1);
      const ids = async (grantIds: string[]) =>
        (await s().tokens.activeByGrants(grantIds)).map((t) => `${t.id}@${t.exp}`).sort();
      const entry = (t: TokenRecord | undefined) => `${t?.id}@${Math.ceil((t?.expiresAt ?? 0) / 1000)}`;
      expect(await ids([g1.id, g2.id])).toEqual([entry(ts[1]), entry(ts[2])].sort());
      expect(await ids([])).toEqual([]);
      expect(await ids(["grt_missing"])).toEqual([]);
      // Revoking the grants rewrites no token row, yet every token of theirs reads as revoked then.
      expect((await s().grants.revoke([g1.id, g2.id], T0 + 5)).sort()).toEqual([g1.id, g2.id].sort());
      expect(await ids([g1.id, g2.id])).toEqual([]);
      expect((await s().tokens.get(ts[0]?.id ?? ""))?.revokedAt).toBe(T0 + 1);
      expect((await s().tokens.get(ts[1]?.id ?? ""))?.revokedAt).toBe(T0 + 5);
      expect((await s().tokens.get(ts[2]?.id ?? ""))?.revokedAt).toBe(T0 + 5);
      expect((await s().tokens.get(ts[4]?.id ?? ""))?.revokedAt).toBeNull();
      expect(await ids([g3.id])).toEqual([entry(ts[4])]);
      expect((await s().tokens.get(ts[3]?.id ?? ""))?.revokedAt).toBe(T0);
      // Revoking a token its grant already took down changes nothing, and says so.
      expect(await s().tokens.revoke(ts[2]?.id ?? "", T0 + 9)).toBe(false);
      expect((await s().tokens.get(ts[2]?.id ?? ""))?.revokedAt).toBe(T0 + 5);
    });

    it("answers a token's state as of now after every kind of revocation, however often it was read before", async () => {
      // On SQLite a read may come from the records held in memory (sql/token-cache.ts): each
      // write below must still show at once, and a write to anything else must not disturb it.
      const { agent: a, grant: g } = await seedAgent(s());
      const g2 = grant(a);
      await s().grants.create(g2);
      const [own, delegated, viaGrant, viaDescendants] = [token(g), token(g2), token(g2), token(g)];
      const child = token(g, { parentTokenId: viaDescendants.id });
      for (const t of [own, delegated, viaGrant, viaDescendants, child]) await s().tokens.create(t);
      const state = async (t: TokenRecord) => (await s().tokens.get(t.id))?.revokedAt;
      const readAll = async () => {
        for (let i = 0; i < 3; i++) for (const t of [own, delegated, viaGrant, child]) await state(t);
      };
      await readAll();
      expect(await s().grants.consumeTokenBudget(g.id, 100)).toBe(true);
      expect(await s().broker.consumeCallBudget(g.id, 100)).toBe(true);
      expect(await state(own)).toBeNull();
      await s().tokens.revoke(own.id, T0 + 1);
      expect(await state(own)).toBe(T0 + 1);
      await readAll();
      await s().tokens.revokeDescendants(viaDescendants.id, T0 + 2);
      expect(await state(child)).toBe(T0 + 2);
      expect(await state(viaDescendants)).toBeNull();
      await readAll();
      await s().grants.revoke([g2.id], T0 + 3);
      expect(await state(delegated)).toBe(T0 + 3);
      expect(await state(viaGrant)).toBe(T0 + 3);
      await readAll();
      await s().agents.revoke([a.id], T0 + 4, "compromised");
      expect(await state(viaDescendants)).toBeNull(); // the agent alone; the cascade revokes its grants
      await s().grants.revoke([g.id], T0 + 5);
      expect(await state(viaDescendants)).toBe(T0 + 5);
      expect(await state(own)).toBe(T0 + 1);
    });

    it("reads a token active again after a revocation that rolled back, and revoked after one that did not", async () => {
      const { grant: g } = await seedAgent(s());
      const t = token(g);
      await s().tokens.create(t);
      expect((await s().tokens.get(t.id))?.revokedAt).toBeNull();
      const rollback = new Error("rolled back");
      await expect(
        s().transaction(async (tx) => {
          await tx.grants.revoke([g.id], T0 + 1);
          expect((await tx.tokens.get(t.id))?.revokedAt).toBe(T0 + 1);
          throw rollback;
        }),
      ).rejects.toBe(rollback);
      expect((await s().tokens.get(t.id))?.revokedAt).toBeNull();
      expect((await s().tokens.get(t.id))?.revokedAt).toBeNull();
      await s().transaction(async (tx) => {
        await tx.tokens.revoke(t.id, T0 + 2);
      });
      expect((await s().tokens.get(t.id))?.revokedAt).toBe(T0 + 2);
    });

    it("revokes delegated descendants over three levels, through revoked links", async () => {
      const { grant: g } = await seedAgent(s());
      const root = token(g);
      const child = token(g, { parentTokenId: root.id, revokedAt: T0 });
      const sibling = token(g, { parentTokenId: root.id });
      const grandchild = token(g, { parentTokenId: child.id });
      const great = token(g, { parentTokenId: grandchild.id });
      const unrelated = token(g);
      for (const t of [root, child, sibling, grandchild, great, unrelated]) await s().tokens.create(t);
      const refs = await s().tokens.revokeDescendants(root.id, T0 + 9);
      expect(refs.map((r) => r.id).sort()).toEqual([sibling.id, grandchild.id, great.id].sort());
      expect(refs[0]?.exp).toBe(Math.ceil(sibling.expiresAt / 1000));
      expect(await s().tokens.revokeDescendants(root.id, T0 + 10)).toEqual([]);
      const after = async (t: TokenRecord) => (await s().tokens.get(t.id))?.revokedAt;
      expect(await after(root)).toBeNull();
      expect(await after(child)).toBe(T0);
      expect(await after(sibling)).toBe(T0 + 9);
      expect(await after(grandchild)).toBe(T0 + 9);
      expect(await after(great)).toBe(T0 + 9);
      expect(await after(unrelated)).toBeNull();
      expect(await s().tokens.revokeDescendants("tok_missing", T0)).toEqual([]);
    });

    it("lists the grants of tokens delegated from a token, over three levels", async () => {
      const { agent: a, grant: g0 } = await seedAgent(s());
      const [g1, g2, g3, other] = [grant(a), grant(a), grant(a), grant(a)];
      for (const g of [g1, g2, g3, other]) await s().grants.create(g);
      const root = token(g0);
      const child = token(g1, { parentTokenId: root.id, revokedAt: T0 });
      const child2 = token(g1, { parentTokenId: root.id });
      const grandchild = token(g2, { parentTokenId: child.id });
      const great = token(g3, { parentTokenId: grandchild.id });
      const backToRootGrant = token(g0, { parentTokenId: great.id });
      const unrelated = token(other);
      for (const t of [root, child, child2, grandchild, great, backToRootGrant, unrelated])
        await s().tokens.create(t);
      expect((await s().tokens.delegatedGrantIds(root.id)).sort()).toEqual([g1.id, g2.id, g3.id].sort());
      expect((await s().tokens.delegatedGrantIds(child.id)).sort()).toEqual([g0.id, g2.id, g3.id].sort());
      expect(await s().tokens.delegatedGrantIds(backToRootGrant.id)).toEqual([]);
      expect(await s().tokens.delegatedGrantIds("tok_missing")).toEqual([]);
    });

    it("reports the latest expiry per signing key", async () => {
      const { grant: g } = await seedAgent(s());
      expect(await s().tokens.latestExpiryForKid("k1")).toBeNull();
      for (const [kid, exp] of [
        ["k1", T0 + 10],
        ["k1", T0 + 30],
        ["k1", T0 + 20],
        ["k2", T0 + 99],
      ] as const) {
        await s().tokens.create(token(g, { kid, expiresAt: exp }));
      }
      expect(await s().tokens.latestExpiryForKid("k1")).toBe(T0 + 30);
      expect(await s().tokens.latestExpiryForKid("k2")).toBe(T0 + 99);
    });
  });
}
