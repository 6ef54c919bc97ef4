/**
 * SQL implementation of {@link IssuerKeyStore}.
 *
 * @example
 * const jwks = (await new SqlIssuerKeyStore(ctx).published(Date.now())).map((k) => k.publicJwk);
 */
import { type Selectable, sql } from "kysely";
import type { IssuerKeyStore } from "../index.js";
import type { IssuerKeysTable } from "../schema.js";
import type { IssuerKeyRecord } from "../types.js";
import { atomic, fromJson, insertUnique, type SqlContext, toJson } from "./context.js";

export class SqlIssuerKeyStore implements IssuerKeyStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(k: IssuerKeyRecord): Promise<void> {
    await insertUnique(
      "issuer key",
      this.ctx.db.insertInto("issuer_keys").values({
        kid: k.kid,
        alg: k.alg,
        public_jwk: toJson(k.publicJwk),
        private_key_enc: k.privateKeyEnc,
        status: k.status,
        created_at: k.createdAt,
        retired_at: k.retiredAt,
        publish_until: k.publishUntil,
      }),
    );
  }

  createFirst(k: IssuerKeyRecord): Promise<boolean> {
    return atomic(this.ctx.db, async (db) => {
      if (this.ctx.dialect === "postgres") {
        // READ COMMITTED alone would let two empty-database starts both see "no active key".
        await sql`SELECT pg_advisory_xact_lock(hashtext('deputy.issuer-key.' || coalesce(current_schema(), '')))`.execute(
          db,
        );
      }
      const store = new SqlIssuerKeyStore({ ...this.ctx, db });
      if ((await store.active()) !== null) return false;
      await store.create(k);
      return true;
    });
  }

  async active(): Promise<IssuerKeyRecord | null> {
    const row = await this.ctx.db
      .selectFrom("issuer_keys")
      .selectAll()
      .where("status", "=", "active")
      .orderBy("created_at", "desc")
      .orderBy("kid", "desc")
      .limit(1)
      .executeTakeFirst();
    return row ? toIssuerKey(row) : null;
  }

  async published(now: number): Promise<IssuerKeyRecord[]> {
    const rows = await this.ctx.db
      .selectFrom("issuer_keys")
      .selectAll()
      .where((eb) =>
        eb.or([
          eb("status", "=", "active"),
          eb.and([eb("status", "=", "retired"), eb("publish_until", ">", now)]),
        ]),
      )
      .orderBy("created_at", "desc")
      .orderBy("kid", "desc")
      .execute();
    return rows.map(toIssuerKey);
  }

  async retire(kid: string, at: number, publishUntil: number): Promise<void> {
    await this.ctx.db
      .updateTable("issuer_keys")
      .set({ status: "retired", retired_at: at, publish_until: publishUntil })
      .where("kid", "=", kid)
      .where("status", "=", "active")
      .execute();
  }
}

function toIssuerKey(r: Selectable<IssuerKeysTable>): IssuerKeyRecord {
  return {
    kid: r.kid,
    alg: r.alg as IssuerKeyRecord["alg"],
    publicJwk: fromJson<Record<string, unknown>>(r.public_jwk),
    privateKeyEnc: r.private_key_enc,
    status: r.status as IssuerKeyRecord["status"],
    createdAt: r.created_at,
    retiredAt: r.retired_at,
    publishUntil: r.publish_until,
  };
}
