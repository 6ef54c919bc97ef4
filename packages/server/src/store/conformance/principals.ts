/**
 * Conformance tests for {@link PrincipalStore}.
 *
 * @example
 * describe("principals", () => principalTests(() => store));
 */
import { describe, expect, it } from "vitest";
import { type Store, StoreConflictError } from "../index.js";
import { byCreatedThenId, drain, principal, principalToken, T0 } from "./fixtures.js";

export function principalTests(s: () => Store): void {
  describe("principals", () => {
    it("round-trips a principal and returns null for an unknown id", async () => {
      const p = principal({ type: "service", email: null });
      await s().principals.create(p);
      expect(await s().principals.get(p.id)).toEqual(p);
      expect(await s().principals.get("prn_missing")).toBeNull();
    });

    it("rejects a duplicate id with StoreConflictError", async () => {
      const p = principal();
      await s().principals.create(p);
      await expect(s().principals.create({ ...p, name: "other" })).rejects.toBeInstanceOf(StoreConflictError);
      expect((await s().principals.get(p.id))?.name).toBe(p.name);
    });

    it("lists with a status filter across pages without gaps or duplicates", async () => {
      const made = [];
      for (let i = 0; i < 13; i++) {
        const p = principal({ createdAt: T0 + (i % 4), status: i % 3 === 0 ? "disabled" : "active" });
        made.push(p);
        await s().principals.create(p);
      }
      const all = await drain((page) => s().principals.list({}, page), 4);
      expect(all.map((p) => p.id)).toEqual([...made].sort(byCreatedThenId).map((p) => p.id));
      const active = await drain((page) => s().principals.list({ status: "active" }, page), 3);
      expect(active.map((p) => p.id)).toEqual(
        made
          .filter((p) => p.status === "active")
          .sort(byCreatedThenId)
          .map((p) => p.id),
      );
      const empty = await s().principals.list({ status: "nope" }, { limit: 5 });
      expect(empty).toEqual({ items: [], hasMore: false });
    });

    it("disables monotonically, keeping the first disabledAt", async () => {
      const p = principal();
      await s().principals.create(p);
      expect(await s().principals.disable(p.id, T0 + 10)).toBe(true);
      expect(await s().principals.disable(p.id, T0 + 20)).toBe(false);
      expect(await s().principals.get(p.id)).toMatchObject({ status: "disabled", disabledAt: T0 + 10 });
      expect(await s().principals.disable("prn_missing", T0)).toBe(false);
    });

    it("finds tokens by hash until revoked, and rejects duplicates", async () => {
      const p = principal();
      await s().principals.create(p);
      const t = principalToken(p.id);
      await s().principals.createToken(t);
      expect(await s().principals.findTokenByHash(t.tokenHash)).toEqual(t);
      expect(await s().principals.findTokenByHash("0".repeat(64))).toBeNull();
      await expect(s().principals.createToken({ ...t, id: "ptk_other" })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      await expect(s().principals.createToken({ ...t, tokenHash: "f".repeat(64) })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      expect(await s().principals.revokeToken(t.id, T0 + 5)).toBe(true);
      expect(await s().principals.revokeToken(t.id, T0 + 9)).toBe(false);
      expect(await s().principals.findTokenByHash(t.tokenHash)).toBeNull();
      const revoked = principalToken(p.id, { revokedAt: T0 });
      await s().principals.createToken(revoked);
      expect(await s().principals.findTokenByHash(revoked.tokenHash)).toBeNull();
    });
  });
}
