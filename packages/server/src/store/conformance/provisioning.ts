/**
 * Conformance tests for the provisioning stores: {@link EnrollmentStore},
 * {@link ProvenanceIssuerStore}, {@link SettingStore}, and the temporary-agent methods of
 * {@link AgentStore} (claim, expiry scan, removal).
 *
 * @example
 * describe("provisioning", () => provisioningTests(() => store));
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type EnrollmentRecord, type Store, StoreConflictError } from "../index.js";
import { agent, agentKey, grant, principal, provenanceIssuer, T0, uid } from "./fixtures.js";

function enrollment(principalId: string, o: Partial<EnrollmentRecord> = {}): EnrollmentRecord {
  return {
    id: uid("enr"),
    principalId,
    codeHash: randomBytes(32).toString("hex"),
    scopes: ["read"],
    resources: ["https://api.example.com"],
    maxAgents: 3,
    agentsEnrolled: 0,
    requireProvenance: true,
    status: "active",
    expiresAt: T0 + 3_600_000,
    createdAt: T0,
    revokedAt: null,
    ...o,
  };
}

export function provisioningTests(s: () => Store): void {
  describe("provisioning", () => {
    it("round-trips an enrollment by id and by code hash; a duplicate code hash conflicts", async () => {
      const p = principal();
      await s().principals.create(p);
      const e = enrollment(p.id);
      await s().enrollments.create(e);
      expect(await s().enrollments.get(e.id)).toEqual(e);
      expect(await s().enrollments.getByCodeHash(e.codeHash)).toEqual(e);
      expect(await s().enrollments.getByCodeHash("0".repeat(64))).toBeNull();
      await expect(s().enrollments.create({ ...e, id: uid("enr") })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      const page = await s().enrollments.list({ principalId: p.id }, { limit: 10 });
      expect(page.items.map((x) => x.id)).toEqual([e.id]);
    });

    it("lets exactly max_agents of 20 concurrent takeSlot calls succeed", async () => {
      const p = principal();
      await s().principals.create(p);
      const e = enrollment(p.id, { maxAgents: 3 });
      await s().enrollments.create(e);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => s().transaction((tx) => tx.enrollments.takeSlot(e.id, T0))),
      );
      expect(results.filter(Boolean)).toHaveLength(3);
      expect((await s().enrollments.get(e.id))?.agentsEnrolled).toBe(3);
    });

    it("takes no slot from an expired or revoked enrollment; revoke is monotonic", async () => {
      const p = principal();
      await s().principals.create(p);
      const e = enrollment(p.id);
      await s().enrollments.create(e);
      expect(await s().enrollments.takeSlot(e.id, e.expiresAt)).toBe(false);
      expect(await s().enrollments.revoke(e.id, T0 + 5)).toBe(true);
      expect(await s().enrollments.revoke(e.id, T0 + 9)).toBe(false);
      expect(await s().enrollments.takeSlot(e.id, T0)).toBe(false);
      expect(await s().enrollments.get(e.id)).toMatchObject({
        status: "revoked",
        revokedAt: T0 + 5,
        agentsEnrolled: 0,
      });
    });

    it("round-trips provenance issuers; a duplicate issuer conflicts", async () => {
      const i = provenanceIssuer();
      await s().provenanceIssuers.create(i);
      expect(await s().provenanceIssuers.get(i.id)).toEqual(i);
      expect(await s().provenanceIssuers.getByIssuer(i.issuer)).toEqual(i);
      const legacy = provenanceIssuer({ requireKeyBinding: false });
      await s().provenanceIssuers.create(legacy);
      expect(await s().provenanceIssuers.get(legacy.id)).toEqual(legacy);
      await expect(s().provenanceIssuers.create({ ...i, id: uid("pvi") })).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      // Removed: gone by id and by issuer, answered once, and the issuer URL is free again.
      expect(await s().provenanceIssuers.remove(i.id)).toEqual(i);
      expect(await s().provenanceIssuers.remove(i.id)).toBeNull();
      expect(await s().provenanceIssuers.get(i.id)).toBeNull();
      expect(await s().provenanceIssuers.getByIssuer(i.issuer)).toBeNull();
      const again = { ...i, id: uid("pvi") };
      await s().provenanceIssuers.create(again);
      expect(await s().provenanceIssuers.getByIssuer(i.issuer)).toEqual(again);
    });

    it("a locked read holds an issuer: its removal waits until the reading transaction ends", async () => {
      // What consumeStatement relies on (provision/provenance.ts). On SQLite the transaction holds
      // the one connection, so the removal waits in any case; on PostgreSQL only `FOR SHARE` makes
      // it wait (without the lock it runs at once, on another pooled connection).
      const i = provenanceIssuer({ requireKeyBinding: false });
      await s().provenanceIssuers.create(i);
      const order: string[] = [];
      let removal: Promise<unknown> = Promise.resolve();
      await s().transaction(async (tx) => {
        expect(await tx.provenanceIssuers.get(i.id, { lock: true })).toEqual(i);
        removal = s()
          .provenanceIssuers.remove(i.id)
          .then((removed) => {
            order.push("removed");
            return removed;
          });
        await new Promise((r) => setTimeout(r, 100));
        order.push("reader done");
      });
      expect(await removal).toEqual(i);
      expect(order).toEqual(["reader done", "removed"]);
    });

    it("setIfAbsent: exactly one of several concurrent writers wins, and every caller gets its value", async () => {
      const name = uid("setting");
      const values = Array.from({ length: 10 }, (_, i) => `v${i}`);
      const got = await Promise.all(values.map((v) => s().settings.setIfAbsent(name, v)));
      expect(new Set(got).size).toBe(1);
      expect(await s().settings.get(name)).toBe(got[0]);
    });

    it("claims an unexpired temporary agent exactly once, moving it and its grants; records the claim", async () => {
      const sandbox = principal();
      const human = principal();
      await s().principals.create(sandbox);
      await s().principals.create(human);
      const a = agent(sandbox.id, {
        temporaryUntil: T0 + 1000,
        ceiling: { scopes: ["read"], resources: ["https://sandbox.example"] },
      });
      const hash = randomBytes(32).toString("hex");
      await s().agents.create(a, [agentKey(a.id)], hash);
      const g = grant(a);
      await s().grants.create(g);
      expect((await s().agents.getByClaimCodeHash(hash))?.id).toBe(a.id);
      const results = await Promise.all(
        Array.from({ length: 10 }, () => s().transaction((tx) => tx.agents.claim(a.id, human.id, T0 + 10))),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await s().agents.get(a.id)).toMatchObject({
        principalId: human.id,
        claimedAt: T0 + 10,
        temporaryUntil: null,
        ceiling: null,
      });
      expect((await s().grants.get(g.id))?.principalId).toBe(human.id);
    });

    it("refuses to claim an expired temporary agent; finds, then removes expired ones", async () => {
      const sandbox = principal();
      await s().principals.create(sandbox);
      const old = agent(sandbox.id, { temporaryUntil: T0 + 100 });
      const fresh = agent(sandbox.id, { temporaryUntil: T0 + 10_000 });
      await s().agents.create(old, [agentKey(old.id)], randomBytes(32).toString("hex"));
      await s().agents.create(fresh, [agentKey(fresh.id)], randomBytes(32).toString("hex"));
      expect(await s().agents.claim(old.id, sandbox.id, T0 + 100)).toBe(false);
      const expired = await s().agents.expiredTemporary(T0 + 100, 10);
      expect(expired).toContain(old.id);
      expect(expired).not.toContain(fresh.id);
      expect(await s().agents.removeTemporary([old.id], T0 + 100)).toEqual([old.id]);
      expect(await s().agents.keys(old.id)).toEqual([]);
      expect((await s().agents.get(old.id))?.temporaryUntil).toBeNull();
      expect(await s().agents.expiredTemporary(T0 + 100, 10)).not.toContain(old.id);
      expect(await s().agents.keys(fresh.id)).toHaveLength(1);
      // Idempotent, and never takes an agent whose window is still open.
      expect(await s().agents.removeTemporary([old.id, fresh.id], T0 + 100)).toEqual([]);
      expect(await s().agents.keys(fresh.id)).toHaveLength(1);
    });

    it("removeTemporary leaves alone an agent claimed after expiredTemporary read it", async () => {
      const sandbox = principal();
      const human = principal();
      await s().principals.create(sandbox);
      await s().principals.create(human);
      const a = agent(sandbox.id, { temporaryUntil: T0 + 100 });
      await s().agents.create(a, [agentKey(a.id)], randomBytes(32).toString("hex"));
      // The sweeper's read (at T0 + 100) and a claim that commits before its writes (at T0 + 99).
      expect(await s().agents.expiredTemporary(T0 + 100, 10)).toEqual([a.id]);
      expect(await s().transaction((tx) => tx.agents.claim(a.id, human.id, T0 + 99))).toBe(true);
      expect(await s().agents.removeTemporary([a.id], T0 + 100)).toEqual([]);
      expect(await s().agents.keys(a.id)).toHaveLength(1);
      expect(await s().agents.get(a.id)).toMatchObject({ principalId: human.id, status: "active" });
    });
  });
}
