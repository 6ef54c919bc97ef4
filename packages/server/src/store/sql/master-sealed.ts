/**
 * SQL implementation of {@link MasterSealedStore}: the sealed columns of `vault_keys`,
 * `issuer_keys` and `audit_log_key`, read together and re-sealed one row at a time.
 *
 * @example
 * for (const box of await new SqlMasterSealedStore(ctx).list()) console.log(box.kind, box.id);
 */
import type { MasterSealedStore } from "../index.js";
import type { MasterSealedBox, MasterSealedKind } from "../types.js";
import { affected, type SqlContext } from "./context.js";

export class SqlMasterSealedStore implements MasterSealedStore {
  constructor(private readonly ctx: SqlContext) {}

  async list(): Promise<MasterSealedBox[]> {
    const db = this.ctx.db;
    const [vault, issuer, log] = await Promise.all([
      db.selectFrom("vault_keys").select(["id", "sealed"]).orderBy("id").execute(),
      db.selectFrom("issuer_keys").select(["kid", "private_key_enc"]).orderBy("kid").execute(),
      db.selectFrom("audit_log_key").select(["id", "private_key_enc"]).execute(),
    ]);
    return [
      ...vault.map((r) => ({ kind: "vault_key" as const, id: r.id, sealed: r.sealed })),
      ...issuer.map((r) => ({ kind: "issuer_key" as const, id: r.kid, sealed: r.private_key_enc })),
      ...log.map((r) => ({ kind: "audit_log_key" as const, id: String(r.id), sealed: r.private_key_enc })),
    ];
  }

  async replace(kind: MasterSealedKind, id: string, previous: string, next: string): Promise<boolean> {
    const db = this.ctx.db;
    let result: { numUpdatedRows: bigint };
    if (kind === "vault_key") {
      result = await db
        .updateTable("vault_keys")
        .set({ sealed: next })
        .where("id", "=", id)
        .where("sealed", "=", previous)
        .executeTakeFirst();
    } else if (kind === "issuer_key") {
      result = await db
        .updateTable("issuer_keys")
        .set({ private_key_enc: next })
        .where("kid", "=", id)
        .where("private_key_enc", "=", previous)
        .executeTakeFirst();
    } else {
      const row = Number(id);
      if (!Number.isSafeInteger(row)) return false;
      result = await db
        .updateTable("audit_log_key")
        .set({ private_key_enc: next })
        .where("id", "=", row)
        .where("private_key_enc", "=", previous)
        .executeTakeFirst();
    }
    return affected(result.numUpdatedRows) === 1;
  }
}
