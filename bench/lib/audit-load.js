/**
 * What the ledger benchmark and `bench/tools/append-loop.js` append: one token-issuance entry, and
 * a store with an `Audit` and an `AuditLedger` set up as `deputy serve` sets them up.
 *
 * @example
 * const { store, audit, ledger } = await openAuditTarget({ url: `sqlite:${path}` });
 * ledger.follow(audit);
 * ledger.start();
 * await audit.record(auditEvent(0));
 */
import { serverModule } from "./paths.js";

/** The benchmark's entry: a token issued, numbered by `i`. */
export function auditEvent(i) {
  return {
    action: "token.issued",
    decision: "allowed",
    actor: {
      agent: "agt_benchbenchbenchbenchbenchbe",
      chain: [],
      principal: "prn_benchbenchbenchbenchbenchbe",
      kind: "agent",
    },
    target: "agt_benchbenchbenchbenchbenchbe",
    resource: "https://api.bench.test",
    tokenId: `tok_${String(i).padStart(26, "0")}`,
    grantId: "grt_benchbenchbenchbenchbenchbe",
    details: { dpop: true, exp: 1767225900, grant_type: "client_credentials", scope: "read write" },
  };
}

/**
 * Opens the store (`openStore` options) with an `Audit` on the wall clock and an `AuditLedger`
 * (not started, not following: the caller decides).
 */
export async function openAuditTarget(storeOptions) {
  const { openStore } = await import(serverModule("store/open.js"));
  const { Audit } = await import(serverModule("audit/record.js"));
  const { AuditLedger } = await import(serverModule("audit/ledger.js"));
  const { createLogger } = await import(serverModule("serve.js"));
  const { MasterKeyRing } = await import(serverModule("crypto/master-key-ring.js"));
  const store = await openStore(storeOptions);
  const clock = { now: () => Date.now() };
  const audit = new Audit(store, clock);
  const ledger = await AuditLedger.open({
    store,
    clock,
    log: createLogger("silent"),
    masterKeys: MasterKeyRing.from([Buffer.alloc(32, 3)]),
    issuer: "http://127.0.0.1:4747",
  });
  return { store, audit, ledger };
}
