/**
 * Conformance tests for {@link MasterSealedStore}: every master-sealed box is listed, and a
 * re-seal is a compare-and-swap that never overwrites a box someone else changed.
 *
 * @example
 * describe("master-sealed boxes", () => masterSealedTests(() => store));
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../index.js";
import { issuerKey, T0, uid } from "./fixtures.js";

export function masterSealedTests(s: () => Store): void {
  describe("master-sealed boxes", () => {
    it("lists vault keys, issuer keys of any status and the log key; replace is compare-and-swap", async () => {
      expect(await s().masterSealed.list()).toEqual([]);
      const kek = {
        id: uid("key"),
        sealed: "v1.k.k.k",
        status: "active" as const,
        createdAt: T0,
        retiredAt: null,
      };
      await s().transaction((tx) => tx.broker.addVaultKey(kek));
      const k1 = issuerKey({ createdAt: T0, privateKeyEnc: "v1.i.i.1" });
      await s().issuerKeys.create(k1);
      await s().transaction(async (tx) => {
        await tx.issuerKeys.retire(k1.kid, T0 + 1, T0 + 2);
      });
      const k2 = issuerKey({ createdAt: T0 + 1, privateKeyEnc: "v1.i.i.2" });
      await s().issuerKeys.create(k2);
      await s().auditTree.ensureLogKey({
        name: "deputy.test/deputy-audit",
        publicKey: new Uint8Array(32),
        privateKeyEnc: "v1.l.l.l",
        createdAt: T0,
      });

      const boxes = await s().masterSealed.list();
      expect(boxes).toEqual([
        { kind: "vault_key", id: kek.id, sealed: "v1.k.k.k" },
        ...[k1, k2]
          .sort((a, b) => (a.kid < b.kid ? -1 : 1))
          .map((k) => ({ kind: "issuer_key", id: k.kid, sealed: k.privateKeyEnc })),
        { kind: "audit_log_key", id: "1", sealed: "v1.l.l.l" },
      ]);

      expect(await s().masterSealed.replace("vault_key", kek.id, "v1.k.k.k", "v2.n.a.b.c")).toBe(true);
      // Stale `previous`: someone re-sealed it already; nothing is overwritten.
      expect(await s().masterSealed.replace("vault_key", kek.id, "v1.k.k.k", "v2.o.a.b.c")).toBe(false);
      expect(await s().masterSealed.replace("issuer_key", k1.kid, "v1.i.i.1", "v2.n.i.i.1")).toBe(true);
      expect(await s().masterSealed.replace("audit_log_key", "1", "v1.l.l.l", "v2.n.l.l.l")).toBe(true);
      expect(await s().masterSealed.replace("audit_log_key", "2", "v2.n.l.l.l", "x")).toBe(false);
      expect(await s().masterSealed.replace("issuer_key", "nope", "v1.i.i.2", "x")).toBe(false);

      expect((await s().broker.vaultKeys())[0]?.sealed).toBe("v2.n.a.b.c");
      expect((await s().auditTree.logKey())?.privateKeyEnc).toBe("v2.n.l.l.l");
      expect((await s().issuerKeys.active())?.privateKeyEnc).toBe("v1.i.i.2");
      const after = await s().masterSealed.list();
      expect(after.find((b) => b.id === k1.kid)?.sealed).toBe("v2.n.i.i.1");
    });
  });
}
