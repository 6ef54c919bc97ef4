/**
 * SQL implementation of {@link PrincipalStore}.
 *
 * @example
 * const principals = new SqlPrincipalStore({ db, dialect: "sqlite" });
 * await principals.create(principal);
 */
import { type Selectable, sql } from "kysely";
import type { Page, PageRequest, PrincipalStore } from "../index.js";
import type { PrincipalsTable, PrincipalTokensTable } from "../schema.js";
import type { PrincipalRecord, PrincipalStatus, PrincipalTokenRecord, PrincipalType } from "../types.js";
import { affected, fetchPage, insertUnique, type SqlContext } from "./context.js";

export class SqlPrincipalStore implements PrincipalStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(p: PrincipalRecord): Promise<void> {
    await insertUnique(
      "principal",
      this.ctx.db.insertInto("principals").values({
        id: p.id,
        type: p.type,
        name: p.name,
        email: p.email,
        status: p.status,
        created_at: p.createdAt,
        disabled_at: p.disabledAt,
      }),
    );
  }

  async get(id: string): Promise<PrincipalRecord | null> {
    const { rows } = await sql<
      Selectable<PrincipalsTable>
    >`SELECT * FROM principals WHERE id = ${id}`.execute(this.ctx.db);
    return rows[0] ? toPrincipal(rows[0]) : null;
  }

  list(filter: { status?: string | undefined }, page: PageRequest): Promise<Page<PrincipalRecord>> {
    let q = this.ctx.db.selectFrom("principals").selectAll();
    if (filter.status !== undefined) q = q.where("status", "=", filter.status);
    return fetchPage(q, page, toPrincipal);
  }

  async disable(id: string, at: number): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("principals")
      .set({ status: "disabled", disabled_at: at })
      .where("id", "=", id)
      .where("disabled_at", "is", null)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }

  async createToken(t: PrincipalTokenRecord): Promise<void> {
    await insertUnique(
      "principal token",
      this.ctx.db.insertInto("principal_tokens").values({
        id: t.id,
        principal_id: t.principalId,
        token_hash: t.tokenHash,
        created_at: t.createdAt,
        revoked_at: t.revokedAt,
      }),
    );
  }

  async findTokenByHash(hash: string): Promise<PrincipalTokenRecord | null> {
    const { rows } = await sql<Selectable<PrincipalTokensTable>>`
      SELECT * FROM principal_tokens WHERE token_hash = ${hash} AND revoked_at IS NULL`.execute(this.ctx.db);
    return rows[0] ? toPrincipalToken(rows[0]) : null;
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("principal_tokens")
      .set({ revoked_at: at })
      .where("id", "=", id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }
}

function toPrincipal(r: Selectable<PrincipalsTable>): PrincipalRecord {
  return {
    id: r.id,
    type: r.type as PrincipalType,
    name: r.name,
    email: r.email,
    status: r.status as PrincipalStatus,
    createdAt: r.created_at,
    disabledAt: r.disabled_at,
  };
}

function toPrincipalToken(r: Selectable<PrincipalTokensTable>): PrincipalTokenRecord {
  return {
    id: r.id,
    principalId: r.principal_id,
    tokenHash: r.token_hash,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}
