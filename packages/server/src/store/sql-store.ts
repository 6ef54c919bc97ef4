/**
 * The one {@link Store} implementation, over Kysely: SQLite and PostgreSQL differ only in the
 * dialect, a few statements (status-index counter, audit log head) and the schema migrations.
 *
 * @example
 * const store = new SqlStore(new Kysely<Database>({ dialect }), "sqlite");
 * await store.transaction(async (tx) => tx.agents.revoke(ids, Date.now(), "compromised"));
 */
import type { Kysely } from "kysely";
import type { Store } from "./index.js";
import type { Database } from "./schema.js";
import { SqlAgentStore } from "./sql/agents.js";
import { SqlAuditStore } from "./sql/audit.js";
import type { SqlContext } from "./sql/context.js";
import { SqlGrantStore } from "./sql/grants.js";
import { SqlIssuerKeyStore } from "./sql/issuer-keys.js";
import { SqlNonceStore } from "./sql/nonces.js";
import { SqlPrincipalStore } from "./sql/principals.js";
import { SqlResourceStore } from "./sql/resources.js";
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

  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: "sqlite" | "postgres",
  ) {
    const ctx: SqlContext = { db, dialect };
    this.principals = new SqlPrincipalStore(ctx);
    this.agents = new SqlAgentStore(ctx);
    this.grants = new SqlGrantStore(ctx);
    this.resources = new SqlResourceStore(ctx);
    this.tokens = new SqlTokenStore(ctx);
    this.nonces = new SqlNonceStore(ctx);
    this.issuerKeys = new SqlIssuerKeyStore(ctx);
    this.audit = new SqlAuditStore(ctx);
  }

  /**
   * Runs `fn` in one transaction; on a transaction-bound store it runs inline (no nested BEGIN).
   * Inside `fn`, use only `tx`: on SQLite the outer store waits for the single connection that
   * the transaction holds, so calling it from `fn` would deadlock.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return fn(this);
    return this.db.transaction().execute((trx) => fn(new SqlStore(trx, this.dialect)));
  }

  async close(): Promise<void> {
    if (this.db.isTransaction) throw new Error("close() called on a transaction-bound store");
    await this.db.destroy();
  }
}
