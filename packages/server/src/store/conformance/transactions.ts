/**
 * Conformance tests for {@link Store.transaction}.
 *
 * @example
 * describe("transactions", () => transactionTests(() => store));
 */
import { describe, expect, it } from "vitest";
import { type Store, StoreConflictError } from "../index.js";
import {
  agent,
  auditFields,
  entryFor,
  issuerKey,
  principal,
  principalToken,
  resource,
  seedAgent,
  token,
} from "./fixtures.js";

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

    it("group commit: concurrent transactions keep their own all-or-nothing outcome", async () => {
      const ps = Array.from({ length: 30 }, () => principal());
      const results = await Promise.allSettled(
        ps.map((p, i) =>
          s().transaction(async (tx) => {
            await tx.principals.create(p);
            const fields = auditFields();
            await tx.audit.append(fields, entryFor(fields));
            if (i % 3 === 0) throw new Error(`fail ${i}`);
            return i;
          }),
        ),
      );
      results.forEach((r, i) => {
        if (i % 3 === 0) expect(r).toMatchObject({ status: "rejected", reason: { message: `fail ${i}` } });
        else expect(r).toEqual({ status: "fulfilled", value: i });
      });
      for (const [i, p] of ps.entries()) {
        expect(await s().principals.get(p.id)).toEqual(i % 3 === 0 ? null : p);
      }
      // Rolled-back items leave no hole in the audit index space.
      const size = await s().audit.size();
      const entries = (await s().audit.query({}, { limit: 1000 })).items.map((e) => e.index);
      expect(entries).toEqual(Array.from({ length: size }, (_, i) => i));
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

    it("stays usable after a caught conflict, on every create", async () => {
      const { agent: a, key: k, grant: g } = await seedAgent(s());
      const p = principal();
      const pt = principalToken(p.id);
      const r = resource();
      const t = token(g);
      const ik = issuerKey();
      await s().principals.create(p);
      await s().principals.createToken(pt);
      await s().resources.create(r);
      await s().tokens.create(t);
      await s().issuerKeys.create(ik);
      const fresh = principal();
      await s().transaction(async (tx) => {
        const clashes: Array<() => Promise<void>> = [
          () => tx.principals.create(p),
          () => tx.principals.createToken({ ...pt, id: "ptk_other" }),
          () => tx.agents.create(a, []),
          () =>
            tx.agents.create({ ...a, id: "agt_new" }, [
              { ...k, agentId: "agt_new" },
              { ...k, agentId: "agt_new" },
            ]),
          () => tx.agents.addKey(k),
          () => tx.grants.create(g),
          () => tx.resources.create({ ...r, id: "res_other" }),
          () => tx.tokens.create(t),
          () => tx.issuerKeys.create(ik),
        ];
        for (const clash of clashes) await expect(clash()).rejects.toBeInstanceOf(StoreConflictError);
        await tx.principals.create(fresh);
      });
      expect(await s().principals.get(fresh.id)).toEqual(fresh);
      expect(await s().agents.get("agt_new")).toBeNull();
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
