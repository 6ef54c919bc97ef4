/**
 * SQL implementation of {@link ProvenanceIssuerStore}.
 *
 * @example
 * const launcher = await new SqlProvenanceIssuerStore(ctx).getByIssuer("https://ci.example");
 */
import { type Selectable, sql } from "kysely";
import type { Page, PageRequest, ProvenanceIssuerStore } from "../index.js";
import type { ProvenanceIssuersTable } from "../schema.js";
import type { ProvenanceIssuerRecord } from "../types.js";
import { fetchPage, fromJson, insertUnique, type SqlContext, toJson } from "./context.js";

export class SqlProvenanceIssuerStore implements ProvenanceIssuerStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(i: ProvenanceIssuerRecord): Promise<void> {
    await insertUnique(
      "provenance issuer",
      this.ctx.db.insertInto("provenance_issuers").values({
        id: i.id,
        name: i.name,
        issuer: i.issuer,
        jwks: toJson(i.jwks),
        require_key_binding: i.requireKeyBinding,
        created_at: i.createdAt,
      }),
    );
  }

  async get(id: string, options: { lock?: boolean } = {}): Promise<ProvenanceIssuerRecord | null> {
    const lock = options.lock === true && this.ctx.dialect === "postgres" ? sql` FOR SHARE` : sql``;
    const { rows } = await sql<
      Selectable<ProvenanceIssuersTable>
    >`SELECT * FROM provenance_issuers WHERE id = ${id}${lock}`.execute(this.ctx.db);
    return rows[0] ? toIssuer(rows[0]) : null;
  }

  async getByIssuer(issuer: string): Promise<ProvenanceIssuerRecord | null> {
    const { rows } = await sql<
      Selectable<ProvenanceIssuersTable>
    >`SELECT * FROM provenance_issuers WHERE issuer = ${issuer}`.execute(this.ctx.db);
    return rows[0] ? toIssuer(rows[0]) : null;
  }

  async update(
    id: string,
    change: { requireKeyBinding?: boolean | undefined; jwks?: ProvenanceIssuerRecord["jwks"] | undefined },
  ): Promise<ProvenanceIssuerRecord | null> {
    if (change.requireKeyBinding !== undefined || change.jwks !== undefined) {
      await this.ctx.db
        .updateTable("provenance_issuers")
        .set({
          ...(change.requireKeyBinding !== undefined
            ? { require_key_binding: change.requireKeyBinding }
            : {}),
          ...(change.jwks !== undefined ? { jwks: toJson(change.jwks) } : {}),
        })
        .where("id", "=", id)
        .execute();
    }
    return this.get(id);
  }

  async remove(id: string): Promise<ProvenanceIssuerRecord | null> {
    // DELETE … RETURNING: one statement on both dialects (SQLite ≥ 3.35), so the record answered
    // is the one deleted, whatever ran concurrently.
    const { rows } = await sql<
      Selectable<ProvenanceIssuersTable>
    >`DELETE FROM provenance_issuers WHERE id = ${id} RETURNING *`.execute(this.ctx.db);
    return rows[0] ? toIssuer(rows[0]) : null;
  }

  list(page: PageRequest): Promise<Page<ProvenanceIssuerRecord>> {
    return fetchPage(this.ctx.db.selectFrom("provenance_issuers").selectAll(), page, toIssuer);
  }
}

function toIssuer(r: Selectable<ProvenanceIssuersTable>): ProvenanceIssuerRecord {
  return {
    id: r.id,
    name: r.name,
    issuer: r.issuer,
    jwks: fromJson<ProvenanceIssuerRecord["jwks"]>(r.jwks),
    requireKeyBinding: Boolean(r.require_key_binding),
    createdAt: Number(r.created_at),
  };
}
