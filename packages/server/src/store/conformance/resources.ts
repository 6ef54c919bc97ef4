/**
 * Conformance tests for {@link ResourceStore}.
 *
 * @example
 * describe("resources", () => resourceTests(() => store));
 */
import { describe, expect, it } from "vitest";
import { type Store, StoreConflictError } from "../index.js";
import { byCreatedThenId, drain, resource, T0 } from "./fixtures.js";

export function resourceTests(s: () => Store): void {
  describe("resources", () => {
    it("round-trips booleans and nullable columns; null when absent", async () => {
      const a = resource({ allowBearer: true, builtin: false });
      const b = resource({ allowBearer: false, builtin: true, secretHash: null });
      await s().resources.create(a);
      await s().resources.create(b);
      expect(await s().resources.get(a.id)).toEqual(a);
      expect(await s().resources.get(b.id)).toEqual(b);
      expect(await s().resources.getByAudience(b.audience)).toEqual(b);
      expect(await s().resources.get("res_missing")).toBeNull();
      expect(await s().resources.getByAudience("https://missing.example")).toBeNull();
    });

    it("rejects a duplicate id or audience", async () => {
      const a = resource();
      await s().resources.create(a);
      await expect(s().resources.create({ ...a, audience: "https://new.example" })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      await expect(s().resources.create(resource({ audience: a.audience }))).rejects.toBeInstanceOf(
        StoreConflictError,
      );
    });

    it("lists every resource once, in (createdAt, id) order", async () => {
      const made = Array.from({ length: 11 }, (_, i) => resource({ createdAt: T0 + (i % 3) }));
      for (const r of made) await s().resources.create(r);
      for (const limit of [1, 3, 11, 50]) {
        const got = await drain((page) => s().resources.list(page), limit);
        expect(got.map((r) => r.id)).toEqual([...made].sort(byCreatedThenId).map((r) => r.id));
      }
      const first = await s().resources.list({ limit: 11 });
      expect(first.hasMore).toBe(false);
      expect((await s().resources.list({ limit: 10 })).hasMore).toBe(true);
      expect(await s().resources.list({ limit: 0 })).toEqual({ items: [], hasMore: true });
    });
  });
}
