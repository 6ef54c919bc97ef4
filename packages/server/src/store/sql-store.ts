/**
 * The one {@link Store} implementation, over Kysely: SQLite and PostgreSQL differ only in the
 * dialect, a few statements (status-index counter, audit log head) and the schema migrations.
 *
 * @example
 * const store = new SqlStore(new Kysely<Database>({ dialect }), "sqlite");
 * await store.transaction(async (tx) => tx.agents.revoke(ids, Date.now(), "compromised"));
 */
import { type Kysely, sql } from "kysely";
import type { Store } from "./index.js";
import type { Database } from "./schema.js";
import { SqlAgentStore } from "./sql/agents.js";
import { SqlAuditStore } from "./sql/audit.js";
import { SqlAuditTreeStore } from "./sql/audit-tree.js";
import { SqlBrokerStore } from "./sql/broker.js";
import type { PgListenTarget, SqlContext } from "./sql/context.js";
import { SqlEnrollmentStore } from "./sql/enrollments.js";
import { SqlGrantStore } from "./sql/grants.js";
import { SqlIssuerKeyStore } from "./sql/issuer-keys.js";
import { SqlMasterSealedStore } from "./sql/master-sealed.js";
import { SqlNonceStore } from "./sql/nonces.js";
import { SqlPrincipalStore } from "./sql/principals.js";
import { SqlProvenanceIssuerStore } from "./sql/provenance-issuers.js";
import { SqlResourceStore } from "./sql/resources.js";
import { SqlRevocationEventStore } from "./sql/revocation-events.js";
import { SqlSettingStore } from "./sql/settings.js";
import type { TokenCache } from "./sql/token-cache.js";
import { SqlTokenStore } from "./sql/tokens.js";

/** A {@link Store} bound to a Kysely instance, or (inside {@link SqlStore.transaction}) a transaction. */
export class SqlStore implements Store {
  readonly principals: SqlPrincipalStore;
  readonly agents: SqlAgentStore;
  readonly grants: SqlGrantStore;
  readonly resources: SqlResourceStore;
  readonly tokens: SqlTokenStore;
  readonly nonces: SqlNonceStore;
  readonly issuerKeys: SqlIssuerKeyStore;
  readonly audit: SqlAuditStore;
  readonly auditTree: SqlAuditTreeStore;
  readonly enrollments: SqlEnrollmentStore;
  readonly provenanceIssuers: SqlProvenanceIssuerStore;
  readonly settings: SqlSettingStore;
  readonly broker: SqlBrokerStore;
  readonly revocationEvents: SqlRevocationEventStore;
  readonly masterSealed: SqlMasterSealedStore;

  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: "sqlite" | "postgres",
    /** PostgreSQL: where the revocation-event `LISTEN` connection goes. */
    private readonly listen?: PgListenTarget,
    /** SQLite: token records held while current; transaction-bound stores never get it. */
    tokenCache?: TokenCache,
  ) {
    const ctx: SqlContext = { db, dialect, listen, tokenCache };
    this.principals = new SqlPrincipalStore(ctx);
    this.agents = new SqlAgentStore(ctx);
    this.grants = new SqlGrantStore(ctx);
    this.resources = new SqlResourceStore(ctx);
    this.tokens = new SqlTokenStore(ctx);
    this.nonces = new SqlNonceStore(ctx);
    this.issuerKeys = new SqlIssuerKeyStore(ctx);
    this.audit = new SqlAuditStore(ctx);
    this.auditTree = new SqlAuditTreeStore(ctx);
    this.enrollments = new SqlEnrollmentStore(ctx);
    this.provenanceIssuers = new SqlProvenanceIssuerStore(ctx);
    this.settings = new SqlSettingStore(ctx);
    this.broker = new SqlBrokerStore(ctx);
    this.revocationEvents = new SqlRevocationEventStore(ctx);
    this.masterSealed = new SqlMasterSealedStore(ctx);
  }

  private readonly queue: Pending[] = [];
  private flushing = false;

  /**
   * Runs `fn` in one transaction; on a transaction-bound store it runs inline (no nested BEGIN).
   * Inside `fn`, use only `tx`: on SQLite the outer store waits for the single connection that
   * the transaction holds, so calling it from `fn` would deadlock.
   *
   * Group commit (SQLite): transactions requested while another is committing are queued and then run
   * together in one database transaction, each inside its own SAVEPOINT. Each keeps its own
   * all-or-nothing outcome (a failure rolls back to its savepoint and rejects only its caller),
   * every caller is answered only after the shared COMMIT, and the commit cost (WAL writes on
   * SQLite, the fsync on PostgreSQL) is paid once per batch instead of once per request.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this);
    // PostgreSQL: no cross-request batches. A batch holds every row lock of its items until the
    // shared COMMIT, so two replicas batching items that lock rows in different orders (a grant's
    // budget, the audit head) would deadlock. Each transaction runs alone on its own pooled
    // connection instead; the server's own WAL group commit still applies.
    if (this.dialect === "postgres")
      return this.db.transaction().execute((trx) => fn(new SqlStore(trx, this.dialect, this.listen)));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        fn: fn as (tx: Store) => Promise<unknown>,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      if (!this.flushing) {
        this.flushing = true;
        // Start after the current I/O phase: every request parsed in it has then queued its
        // transaction, so they share one commit. No timer: an idle server commits at once.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        if (batch.length === 1) {
          const only = batch[0]!;
          await this.db
            .transaction()
            .execute((trx) => only.fn(new SqlStore(trx, this.dialect, this.listen)))
            .then(only.resolve, only.reject);
          continue;
        }
        await this.runBatch(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        const tx = new SqlStore(trx, this.dialect, this.listen);
        for (const item of batch) {
          await sql`SAVEPOINT deputy_item`.execute(trx);
          try {
            const value = await item.fn(tx);
            await sql`RELEASE SAVEPOINT deputy_item`.execute(trx);
            outcomes.push({ ok: true, value });
          } catch (error) {
            await sql`ROLLBACK TO SAVEPOINT deputy_item`.execute(trx);
            await sql`RELEASE SAVEPOINT deputy_item`.execute(trx);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The shared COMMIT (or a savepoint statement) failed: nothing in the batch was written.
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }

  async close(): Promise<void> {
    if (this.db.isTransaction) throw new Error("close() called on a transaction-bound store");
    await this.db.destroy();
  }
}

/** Most transactions one group commit carries. */
const MAX_BATCH = 128;

interface Pending {
  fn: (tx: Store) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}
