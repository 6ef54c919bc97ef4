/**
 * SQL implementation of {@link ResourceStore}.
 *
 * @example
 * const resource = await new SqlResourceStore(ctx).getByAudience("https://api.example.com");
 */
import { type Selectable, sql } from "kysely";
import type { Page, PageRequest, ResourceStore } from "../index.js";
import type { ResourcesTable } from "../schema.js";
import type { ResourceRecord } from "../types.js";
import { fetchPage, insertUnique, type SqlContext } from "./context.js";

export class SqlResourceStore implements ResourceStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(r: ResourceRecord): Promise<void> {
    await insertUnique(
      "resource",
      this.ctx.db.insertInto("resources").values({
        id: r.id,
        audience: r.audience,
        name: r.name,
        secret_hash: r.secretHash,
        allow_bearer: r.allowBearer,
        builtin: r.builtin,
        created_at: r.createdAt,
        require_provenance: r.requireProvenance,
        code_digests: r.codeDigests === null ? null : JSON.stringify(r.codeDigests),
        accept_unbound_provenance: r.acceptUnboundProvenance,
      }),
    );
  }

  async get(id: string): Promise<ResourceRecord | null> {
    const { rows } = await sql<Selectable<ResourcesTable>>`SELECT * FROM resources WHERE id = ${id}`.execute(
      this.ctx.db,
    );
    return rows[0] ? toResource(rows[0]) : null;
  }

  async getByAudience(audience: string): Promise<ResourceRecord | null> {
    const { rows } = await sql<Selectable<ResourcesTable>>`
      SELECT * FROM resources WHERE audience = ${audience}`.execute(this.ctx.db);
    return rows[0] ? toResource(rows[0]) : null;
  }

  async updateProvenance(
    id: string,
    change: {
      requireProvenance?: boolean | undefined;
      codeDigests?: string[] | null | undefined;
      acceptUnboundProvenance?: boolean | undefined;
    },
  ): Promise<ResourceRecord | null> {
    const set: {
      require_provenance?: boolean;
      code_digests?: string | null;
      accept_unbound_provenance?: boolean;
    } = {};
    if (change.requireProvenance !== undefined) set.require_provenance = change.requireProvenance;
    if (change.acceptUnboundProvenance !== undefined) {
      set.accept_unbound_provenance = change.acceptUnboundProvenance;
    }
    if (change.codeDigests !== undefined) {
      set.code_digests = change.codeDigests === null ? null : JSON.stringify(change.codeDigests);
    }
    if (Object.keys(set).length > 0) {
      await this.ctx.db.updateTable("resources").set(set).where("id", "=", id).execute();
    }
    return this.get(id);
  }

  list(page: PageRequest): Promise<Page<ResourceRecord>> {
    return fetchPage(this.ctx.db.selectFrom("resources").selectAll(), page, toResource);
  }
}

function toResource(r: Selectable<ResourcesTable>): ResourceRecord {
  return {
    id: r.id,
    audience: r.audience,
    name: r.name,
    secretHash: r.secret_hash,
    allowBearer: Boolean(r.allow_bearer),
    builtin: Boolean(r.builtin),
    createdAt: r.created_at,
    requireProvenance: Boolean(r.require_provenance),
    codeDigests: r.code_digests === null ? null : (JSON.parse(r.code_digests) as string[]),
    acceptUnboundProvenance: Boolean(r.accept_unbound_provenance),
  };
}
