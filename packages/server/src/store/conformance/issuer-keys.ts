/**
 * Conformance tests for {@link IssuerKeyStore}.
 *
 * @example
 * describe("issuer keys", () => issuerKeyTests(() => store));
 */
import { describe, expect, it } from "vitest";
import { type Store, StoreConflictError } from "../index.js";
import { issuerKey, T0 } from "./fixtures.js";

export function issuerKeyTests(s: () => Store): void {
  describe("issuer keys", () => {
    it("publishes the active key, then retired keys until publishUntil", async () => {
      expect(await s().issuerKeys.active()).toBeNull();
      expect(await s().issuerKeys.published(T0)).toEqual([]);
      const k1 = issuerKey({ createdAt: T0 });
      await s().issuerKeys.create(k1);
      expect(await s().issuerKeys.active()).toEqual(k1);
      expect(await s().issuerKeys.published(T0)).toEqual([k1]);
      await expect(s().issuerKeys.create(k1)).rejects.toBeInstanceOf(StoreConflictError);

      // Rotation: retire the old key and create the new one atomically.
      const k2 = issuerKey({ createdAt: T0 + 10 });
      await s().transaction(async (tx) => {
        await tx.issuerKeys.retire(k1.kid, T0 + 10, T0 + 1_000);
        await tx.issuerKeys.create(k2);
      });
      const retired = { ...k1, status: "retired", retiredAt: T0 + 10, publishUntil: T0 + 1_000 };
      expect(await s().issuerKeys.active()).toEqual(k2);
      expect(await s().issuerKeys.published(T0 + 999)).toEqual([k2, retired]);
      expect(await s().issuerKeys.published(T0 + 1_000)).toEqual([k2]);

      // Retiring again changes nothing.
      await s().issuerKeys.retire(k1.kid, T0 + 50, T0 + 5_000);
      expect(await s().issuerKeys.published(T0 + 999)).toEqual([k2, retired]);
      await s().issuerKeys.retire("isk_missing", T0, T0);
    });

    it("creates a first key exactly once when several callers race", async () => {
      const before = await s().issuerKeys.active();
      if (before) await s().issuerKeys.retire(before.kid, T0 + 100, T0 + 200);
      const candidates = Array.from({ length: 8 }, (_, i) => issuerKey({ createdAt: T0 + 300 + i }));
      const created = await Promise.all(
        candidates.map((k) => s().transaction((tx) => tx.issuerKeys.createFirst(k))),
      );
      expect(created.filter(Boolean)).toHaveLength(1);
      const winner = candidates[created.indexOf(true)];
      expect(await s().issuerKeys.active()).toEqual(winner);
      expect(await s().issuerKeys.createFirst(issuerKey({ createdAt: T0 + 400 }))).toBe(false);
      expect((await s().issuerKeys.published(T0 + 500)).filter((k) => k.status === "active")).toEqual([
        winner,
      ]);
    });
  });
}
