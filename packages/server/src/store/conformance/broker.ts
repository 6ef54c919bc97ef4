/**
 * Conformance tests for {@link BrokerStore}: the concurrency guarantees the gateway relies on
 * (single-use approvals, one decision, exact call budgets) and the vault's key ring.
 *
 * @example
 * describe("broker", () => brokerTests(() => store));
 */
import { describe, expect, it } from "vitest";
import type { ApprovalRecord, ConnectionRecord, Store } from "../index.js";
import { resource, seedAgent, T0, uid } from "./fixtures.js";

function connection(resourceId: string, keyId: string, o: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id: uid("con"),
    name: uid("c").toLowerCase().replace(/_/g, "-").slice(0, 40),
    upstream: "https://api.example.com",
    audience: `urn:deputy:connection:${uid("a")}`,
    resourceId,
    authType: "bearer",
    authName: null,
    rules: [{ scope: "read", methods: ["GET"], paths: ["/**"] }],
    secret: { ciphertext: "v1.a.b.c", wrappedKey: "v1.d.e.f", keyId },
    secretVersion: 1,
    secretRotatedAt: T0,
    createdAt: T0,
    ...o,
  };
}

function approval(connectionId: string, o: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: uid("apv"),
    connectionId,
    connectionName: "c",
    agentId: "agt_x",
    chain: [],
    principalId: "prn_x",
    tokenId: "tok_x",
    grantId: "grt_x",
    method: "DELETE",
    url: "https://deputy.example/proxy/c/x",
    bodySha256: "0".repeat(64),
    status: "pending",
    createdAt: T0,
    expiresAt: T0 + 60_000,
    decidedAt: null,
    decidedBy: null,
    reason: null,
    receipt: null,
    usedAt: null,
    ...o,
  };
}

async function seedConnection(s: Store): Promise<ConnectionRecord> {
  const key = {
    id: uid("key"),
    sealed: "v1.x.y.z",
    status: "active" as const,
    createdAt: T0,
    retiredAt: null,
  };
  await s.transaction((tx) => tx.broker.addVaultKey(key));
  const r = resource();
  await s.resources.create(r);
  const c = connection(r.id, key.id);
  await s.broker.createConnection(c);
  return c;
}

export function brokerTests(s: () => Store): void {
  describe("broker", () => {
    it("keeps exactly one active vault key and refuses to drop a key still in use", async () => {
      const c = await seedConnection(s());
      const next = {
        id: uid("key"),
        sealed: "v1.n.n.n",
        status: "active" as const,
        createdAt: T0 + 1,
        retiredAt: null,
      };
      await s().transaction((tx) => tx.broker.addVaultKey(next));
      expect((await s().broker.activeVaultKey())?.id).toBe(next.id);
      expect(await s().broker.dropVaultKey(c.secret.keyId)).toBe(false);
      expect(await s().broker.rewrapSecret(c.id, "key_other", "v1.w.w.w", next.id)).toBe(false);
      expect(await s().broker.rewrapSecret(c.id, c.secret.keyId, "v1.w.w.w", next.id)).toBe(true);
      expect(await s().broker.dropVaultKey(c.secret.keyId)).toBe(true);
      expect(await s().broker.dropVaultKey(next.id)).toBe(false); // the active key is never dropped
      expect((await s().broker.getConnection(c.id))?.secret).toEqual({
        ciphertext: c.secret.ciphertext,
        wrappedKey: "v1.w.w.w",
        keyId: next.id,
      });
    });

    it("dropVaultKey answers false (never throws) when a connection wrapped by the key commits meanwhile", async () => {
      const c = await seedConnection(s());
      const old = c.secret.keyId;
      const next = {
        id: uid("key"),
        sealed: "v1.n.n.n",
        status: "active" as const,
        createdAt: T0 + 1,
        retiredAt: null,
      };
      await s().transaction((tx) => tx.broker.addVaultKey(next));
      expect(await s().broker.rewrapSecret(c.id, old, "v1.w.w.w", next.id)).toBe(true);
      // A connection sealed under the old key (read as active just before the rotation) is being
      // inserted while the rotation drops that key.
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let inserted!: () => void;
      const insertedP = new Promise<void>((r) => {
        inserted = r;
      });
      const late = connection(c.resourceId, old);
      const insert = s().transaction(async (tx) => {
        await tx.broker.createConnection(late);
        inserted();
        await gate;
      });
      await insertedP;
      const drop = s().broker.dropVaultKey(old);
      await new Promise((r) => setTimeout(r, 100));
      release();
      await insert;
      expect(await drop).toBe(false);
      expect((await s().broker.vaultKeys()).map((k) => k.id)).toContain(old);
      expect((await s().broker.getConnection(late.id))?.secret.keyId).toBe(old);
    });

    it("refuses a duplicate connection name and bumps the secret version on rotation", async () => {
      const c = await seedConnection(s());
      await expect(s().broker.createConnection({ ...c, id: uid("con") })).rejects.toThrow(/already exists/);
      expect(
        await s().broker.rotateConnectionSecret(c.id, { ...c.secret, ciphertext: "v1.r.r.r" }, T0 + 5),
      ).toBe(2);
      expect(await s().broker.rotateConnectionSecret("con_missing", c.secret, T0)).toBeNull();
      expect(await s().broker.deleteConnection(c.id)).toBe(true);
      expect(await s().broker.deleteConnection(c.id)).toBe(false);
      expect(await s().broker.getConnectionByName(c.name)).toBeNull();
    });

    it("lets exactly one of 20 concurrent decisions win, and only before expiry", async () => {
      const c = await seedConnection(s());
      const a = approval(c.id);
      await s().broker.createApproval(a);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s().broker.decideApproval(a.id, {
            status: i % 2 ? "approved" : "denied",
            at: T0 + 1,
            by: { kind: "admin" },
            reason: null,
            receipt: `r${i}`,
          }),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const late = approval(c.id);
      await s().broker.createApproval(late);
      expect(
        await s().broker.decideApproval(late.id, {
          status: "approved",
          at: late.expiresAt,
          by: { kind: "admin" },
          reason: null,
          receipt: "r",
        }),
      ).toBe(false);
    });

    it("lets exactly one of 20 concurrent callers use an approval, never a pending or expired one", async () => {
      const c = await seedConnection(s());
      const a = approval(c.id);
      await s().broker.createApproval(a);
      expect(await s().broker.consumeApproval(a.id, T0 + 1)).toBe(false); // still pending
      await s().broker.decideApproval(a.id, {
        status: "approved",
        at: T0 + 1,
        by: {},
        reason: null,
        receipt: "r",
      });
      expect(await s().broker.consumeApproval(a.id, a.expiresAt)).toBe(false); // expired
      const results = await Promise.all(
        Array.from({ length: 20 }, () => s().broker.consumeApproval(a.id, T0 + 2)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await s().broker.getApproval(a.id))?.status).toBe("used");
      // A call the upstream never received gives it back, once; it can then be used once more.
      expect(await s().broker.restoreApproval(a.id)).toBe(true);
      expect(await s().broker.restoreApproval(a.id)).toBe(false);
      expect(await s().broker.getApproval(a.id)).toMatchObject({ status: "approved", usedAt: null });
      expect(await s().broker.consumeApproval(a.id, T0 + 3)).toBe(true);
    });

    it("counts exactly max_calls concurrent calls against a grant", async () => {
      const { grant: g } = await seedAgent(s());
      const results = await Promise.all(
        Array.from({ length: 25 }, () => s().broker.consumeCallBudget(g.id, 7)),
      );
      expect(results.filter(Boolean)).toHaveLength(7);
      expect(await s().broker.consumeCallBudget(g.id, 7)).toBe(false);
      expect(await s().broker.callsMade(g.id)).toBe(7);
      // A refund gives one call back, and never goes below zero.
      await s().broker.refundCallBudget(g.id);
      expect(await s().broker.callsMade(g.id)).toBe(6);
      expect(await s().broker.consumeCallBudget(g.id, 7)).toBe(true);
      for (let n = 0; n < 9; n++) await s().broker.refundCallBudget(g.id);
      expect(await s().broker.callsMade(g.id)).toBe(0);
      expect(await s().broker.callsMade("grt_unknownunknownunknownun")).toBeNull();
    });

    it("lists approvals by status and principal", async () => {
      const c = await seedConnection(s());
      const p = uid("prn");
      const a1 = approval(c.id, { principalId: p });
      const a2 = approval(c.id, { principalId: p, status: "denied" });
      await s().broker.createApproval(a1);
      await s().broker.createApproval(a2);
      const page = await s().broker.listApprovals({ principalId: p, status: "pending" }, { limit: 10 });
      expect(page.items.map((a) => a.id)).toEqual([a1.id]);
    });
  });
}
