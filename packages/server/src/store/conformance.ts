/**
 * The store conformance suite: every {@link Store} implementation must pass it unchanged.
 * Each test gets a fresh, empty, migrated store from `create` and cleans it up afterwards.
 *
 * @example
 * runStoreConformance({
 *   name: "sqlite",
 *   create: async () => {
 *     const { store, cleanup } = await createSqliteTestStore();
 *     return { store, cleanup };
 *   },
 * });
 */
import { afterEach, beforeEach, describe } from "vitest";
import { agentTests } from "./conformance/agents.js";
import { auditTests } from "./conformance/audit.js";
import { auditTreeTests } from "./conformance/audit-tree.js";
import { brokerTests } from "./conformance/broker.js";
import { grantTests } from "./conformance/grants.js";
import { issuerKeyTests } from "./conformance/issuer-keys.js";
import { masterSealedTests } from "./conformance/master-sealed.js";
import { nonceTests } from "./conformance/nonces.js";
import { principalTests } from "./conformance/principals.js";
import { provisioningTests } from "./conformance/provisioning.js";
import { resourceTests } from "./conformance/resources.js";
import { revocationEventTests } from "./conformance/revocation-events.js";
import { tokenTests } from "./conformance/tokens.js";
import { transactionTests } from "./conformance/transactions.js";
import type { Store } from "./index.js";

export interface ConformanceTarget {
  name: string;
  create: () => Promise<{ store: Store; cleanup(): Promise<void> }>;
}

/** Registers the conformance suite (vitest `describe`/`it`) for one store implementation. */
export function runStoreConformance(target: ConformanceTarget): void {
  describe(`Store conformance: ${target.name}`, () => {
    let current: { store: Store; cleanup(): Promise<void> } | undefined;
    beforeEach(async () => {
      current = await target.create();
    });
    afterEach(async () => {
      const c = current;
      current = undefined;
      await c?.cleanup();
    });
    const store = (): Store => {
      if (!current) throw new Error("no store: the suite's beforeEach did not run");
      return current.store;
    };
    principalTests(store);
    agentTests(store);
    grantTests(store);
    resourceTests(store);
    tokenTests(store);
    nonceTests(store);
    brokerTests(store);
    issuerKeyTests(store);
    masterSealedTests(store);
    auditTests(store);
    auditTreeTests(store);
    transactionTests(store);
    provisioningTests(store);
    revocationEventTests(store);
  });
}
