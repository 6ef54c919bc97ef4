/**
 * SQL implementation of {@link EnrollmentStore}.
 *
 * @example
 * if (!(await new SqlEnrollmentStore(ctx).takeSlot(enrollment.id, now))) throw exhausted();
 */
import { type Selectable, sql } from "kysely";
import type { EnrollmentStore, Page, PageRequest } from "../index.js";
import type { EnrollmentsTable } from "../schema.js";
import type { EnrollmentRecord } from "../types.js";
import { affected, fetchPage, fromJson, insertUnique, type SqlContext, toJson } from "./context.js";

export class SqlEnrollmentStore implements EnrollmentStore {
  constructor(private readonly ctx: SqlContext) {}

  async create(e: EnrollmentRecord): Promise<void> {
    await insertUnique(
      "enrollment",
      this.ctx.db.insertInto("enrollments").values({
        id: e.id,
        principal_id: e.principalId,
        code_hash: e.codeHash,
        scopes: toJson(e.scopes),
        resources: toJson(e.resources),
        max_agents: e.maxAgents,
        agents_enrolled: e.agentsEnrolled,
        require_provenance: e.requireProvenance,
        status: e.status,
        expires_at: e.expiresAt,
        created_at: e.createdAt,
        revoked_at: e.revokedAt,
      }),
    );
  }

  async get(id: string): Promise<EnrollmentRecord | null> {
    const { rows } = await sql<
      Selectable<EnrollmentsTable>
    >`SELECT * FROM enrollments WHERE id = ${id}`.execute(this.ctx.db);
    return rows[0] ? toEnrollment(rows[0]) : null;
  }

  async getByCodeHash(hash: string): Promise<EnrollmentRecord | null> {
    const { rows } = await sql<
      Selectable<EnrollmentsTable>
    >`SELECT * FROM enrollments WHERE code_hash = ${hash}`.execute(this.ctx.db);
    return rows[0] ? toEnrollment(rows[0]) : null;
  }

  list(filter: { principalId?: string | undefined }, page: PageRequest): Promise<Page<EnrollmentRecord>> {
    let q = this.ctx.db.selectFrom("enrollments").selectAll();
    if (filter.principalId !== undefined) q = q.where("principal_id", "=", filter.principalId);
    return fetchPage(q, page, toEnrollment);
  }

  async takeSlot(id: string, now: number): Promise<boolean> {
    // One conditional UPDATE: on PostgreSQL concurrent callers queue on the row lock and each
    // re-evaluates the WHERE against the committed count (READ COMMITTED), so the counter can
    // never pass max_agents; SQLite serialises writers.
    const r = await sql`
      UPDATE enrollments SET agents_enrolled = agents_enrolled + 1
      WHERE id = ${id} AND status = 'active' AND expires_at > ${now}
        AND agents_enrolled < max_agents`.execute(this.ctx.db);
    return affected(r.numAffectedRows) === 1;
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable("enrollments")
      .set({ status: "revoked", revoked_at: at })
      .where("id", "=", id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return affected(r.numUpdatedRows) > 0;
  }
}

function toEnrollment(r: Selectable<EnrollmentsTable>): EnrollmentRecord {
  return {
    id: r.id,
    principalId: r.principal_id,
    codeHash: r.code_hash,
    scopes: fromJson<string[]>(r.scopes),
    resources: fromJson<string[]>(r.resources),
    maxAgents: Number(r.max_agents),
    agentsEnrolled: Number(r.agents_enrolled),
    requireProvenance: Boolean(r.require_provenance),
    status: r.status as EnrollmentRecord["status"],
    expiresAt: Number(r.expires_at),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}
