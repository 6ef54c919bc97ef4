/**
 * Conformance tests for {@link Store.transaction}.
 *
 * @example
 * describe("transactions", () => transactionTests(() => store));
 */
import { describe, expect, it } from "vitest";
import { type Store, StoreConflictError } from "../index.js";
import { agent, auditFields, entryFor, principal, resource } from "./fixtures.js";

export function transactionTests(s: () => Store): void {
  describe("transactions", () => {
    it("commits every write and returns fn's value", async () => {
      const p = principal();
      const a = agent(p.id);
      const out = await s().transaction(async (tx) => {
        expect(tx.dialect).toBe(s().dialect);
        await tx.principals.create(p);
        await tx.agents.create(a, []);
        expect(await tx.agents.get(a.id)).toEqual(a);
        return "done";
      });
      expect(out).toBe("done");
      expect(await s().principals.get(p.id)).toEqual(p);
      expect(await s().agents.get(a.id)).toEqual(a);
    });

    it("writes nothing when fn throws", async () => {
      const p = principal();
      const r = resource();
      const f = auditFields();
      await expect(
        s().transaction(async (tx) => {
          await tx.principals.create(p);
          await tx.resources.create(r);
          await tx.audit.append(f, entryFor(f));
          throw new Error("rollback please");
        }),
      ).rejects.toThrow("rollback please");
      expect(await s().principals.get(p.id)).toBeNull();
      expect(await s().resources.get(r.id)).toBeNull();
      expect(await s().audit.size()).toBe(0);
    });

    it("runs nested transactions inline, in the outer transaction", async () => {
      const p = principal();
      const q = principal();
      await expect(
        s().transaction(async (tx) => {
          await tx.principals.create(p);
          const inner = await tx.transaction(async (tx2) => {
            await tx2.principals.create(q);
            return tx2.principals.get(p.id);
          });
          expect(inner).toEqual(p);
          throw new Error("outer fails");
        }),
      ).rejects.toThrow("outer fails");
      expect(await s().principals.get(p.id)).toBeNull();
      expect(await s().principals.get(q.id)).toBeNull();
    });

    it("propagates a conflict as StoreConflictError and rolls back", async () => {
      const p = principal();
      await s().principals.create(p);
      const q = principal();
      await expect(
        s().transaction(async (tx) => {
          await tx.principals.create(q);
          await tx.principals.create(p);
        }),
      ).rejects.toBeInstanceOf(StoreConflictError);
      expect(await s().principals.get(q.id)).toBeNull();
    });

    it("completes concurrent transactions; a monotonic update wins exactly once", async () => {
      const p = principal();
      await s().principals.create(p);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          s().transaction(async (tx) => {
            await tx.audit.append(auditFields({ action: `t${i}` }), entryFor(auditFields()));
            return tx.principals.disable(p.id, 1_000 + i);
          }),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}
