/**
 * SQL implementation of {@link AuditStore}: an append-only log with dense indexes. On PostgreSQL
 * every append locks a single-row head (`UPDATE audit_head … RETURNING`), which serialises
 * appends until the appending transaction ends. On SQLite writers are already serialised
 * (`BEGIN IMMEDIATE`), so the next index is simply `MAX(idx) + 1`.
 *
 * @example
 * const index = await new SqlAuditStore(ctx).append(fields, (i) => canonicalize({ ...fields, index: i }));
 */
import { CompiledQuery, type Kysely, type RawBuilder, type Selectable, type SqlBool, sql } from "kysely";
import { hashEntry } from "../../audit/hasher.js";
import { storableText } from "../../crypto/text.js";
import { type AuditStore, type EntryTemplate, type Page, renderEntry } from "../index.js";
import { AUDIT_KEY_KINDS, type AuditKeyKind } from "../migrations/shared/audit-entry-keys.js";
import type { AuditLogTable, Database } from "../schema.js";
import type { AuditRecord } from "../types.js";
import { atomic, fromJson, type SqlContext, toJson } from "./context.js";
import { prepared } from "./prepared.js";

export class SqlAuditStore implements AuditStore {
  constructor(private readonly ctx: SqlContext) {}

  append(fields: Omit<AuditRecord, "index" | "entry">, entry: EntryTemplate): Promise<number> {
    return this.appendMany([{ fields, entry }]).then((indexes) => indexes[0]!);
  }

  appendMany(
    items: ReadonlyArray<{ fields: Omit<AuditRecord, "index" | "entry">; entry: EntryTemplate }>,
  ): Promise<number[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (this.ctx.dialect === "postgres") return appendPostgres(this.ctx.db, items);
    return atomic(this.ctx.db, async (db) => {
      // Writers are serialised by SQLite itself (BEGIN IMMEDIATE): the next index is MAX + 1.
      const start = await sqliteSize(db);
      // Pre-compiled text with a flat parameter list (no query-builder object per row).
      for (let i = 0; i < items.length; i += SQLITE_INSERT_ROWS) {
        const chunk = items.slice(i, i + SQLITE_INSERT_ROWS);
        const params: unknown[] = [];
        chunk.forEach(({ fields: f, entry }, k) => {
          const index = start + i + k;
          // Query columns as on PostgreSQL (appendPostgres): U+0000 and unpaired surrogates become
          // U+FFFD, so both stores hold the same text and SQLite never holds invalid UTF-8.
          params.push(index, f.at, col(f.action), f.decision, col(f.actorAgent), col(toJson(f.actorChain)));
          params.push(col(f.actorPrincipal), col(f.target), col(f.resource), col(f.tokenId), col(f.grantId));
          params.push(renderEntry(entry, index));
        });
        await db.executeQuery(CompiledQuery.raw(insertEntriesSql(chunk.length), params));
      }
      return items.map((_, k) => start + k);
    });
  }

  async get(index: number): Promise<AuditRecord | null> {
    const { rows } = await sql<
      Selectable<AuditLogTable>
    >`SELECT * FROM audit_log WHERE idx = ${index}`.execute(this.ctx.db);
    return rows[0] ? toAudit(rows[0]) : null;
  }

  async size(): Promise<number> {
    if (this.ctx.dialect === "sqlite") return sqliteSize(this.ctx.db);
    const { rows } = await sql<{ size: number }>`SELECT size FROM audit_head WHERE id = 1`.execute(
      this.ctx.db,
    );
    return Number(rows[0]?.size ?? 0);
  }

  async query(
    filter: Parameters<AuditStore["query"]>[0],
    page: Parameters<AuditStore["query"]>[1],
  ): Promise<Page<AuditRecord>> {
    const limit = Math.max(0, Math.floor(page.limit));
    const desc = page.order === "desc";
    // Index bounds, exclusive: (low, high).
    let low = page.afterIndex ?? -1;
    let high = page.beforeIndex ?? Number.POSITIVE_INFINITY;
    if (filter.since !== undefined || filter.until !== undefined) {
      const bounds = await this.timeBounds(filter.since, filter.until);
      low = Math.max(low, bounds.low);
      high = Math.min(high, bounds.high);
      if (high - low <= 1) return { items: [], hasMore: false };
    }
    // The index of keys (agents and tokens; on SQLite principals, resources, decisions and actions
    // too) covers a prefix of the integrated tree (AuditTreeStore.indexedSize), read once here:
    // entries below it are found through it, the rest by a scan of the log past it.
    let reach: number | undefined;
    const indexedSize = async () => (reach ??= await this.indexedSize());
    // Every filter is also a condition on the row, so the id index only accelerates: a row it
    // names is answered only if the row itself matches.
    const { conditions, claims } = await this.conditions(filter, indexedSize);
    const order = desc ? "desc" : "asc";
    const key = auditKey(filter, claims, this.ctx.dialect);
    let rows: Array<Selectable<AuditLogTable>>;
    if (key === undefined) {
      let q = this.ctx.db.selectFrom("audit_log").selectAll();
      for (const c of conditions) q = q.where(c);
      if (low >= 0) q = q.where("idx", ">", low);
      if (Number.isFinite(high)) q = q.where("idx", "<", high);
      rows = await q
        .orderBy("idx", order)
        .limit(limit + 1)
        .execute();
    } else {
      const indexed = await indexedSize();
      // (lo, hi) exclusive, at most n rows, in `order`.
      const throughIndex = async (lo: number, hi: number, n: number) => {
        if (hi - lo <= 1 || n <= 0) return [];
        let q = this.ctx.db
          .selectFrom("audit_entry_ids as k")
          .innerJoin("audit_log", "audit_log.idx", "k.idx")
          .selectAll("audit_log")
          .where("k.id", "=", key)
          .where("k.idx", ">", lo)
          .where("k.idx", "<", hi);
        for (const c of conditions) q = q.where(c);
        return q.orderBy("k.idx", order).limit(n).execute();
      };
      const pastIndex = async (lo: number, hi: number, n: number) => {
        if (hi - lo <= 1 || n <= 0) return [];
        let q = this.ctx.db.selectFrom("audit_log").selectAll().where("idx", ">", lo);
        if (Number.isFinite(hi)) q = q.where("idx", "<", hi);
        for (const c of conditions) q = q.where(c);
        return q.orderBy("idx", order).limit(n).execute();
      };
      const below = () => throughIndex(low, Math.min(high, indexed), limit + 1 - rows.length);
      const above = () => pastIndex(Math.max(low, indexed - 1), high, limit + 1 - rows.length);
      rows = [];
      rows.push(...(await (desc ? above() : below())));
      rows.push(...(await (desc ? below() : above())));
    }
    const hasMore = rows.length > limit;
    return { items: (hasMore ? rows.slice(0, limit) : rows).map(toAudit), hasMore };
  }

  async entries(start: number, end: number): Promise<string[]> {
    if (!(end > start)) return [];
    const { rows } = await sql<{ idx: number; entry: string }>`
      SELECT idx, entry FROM audit_log WHERE idx >= ${start} AND idx < ${end} ORDER BY idx`.execute(
      this.ctx.db,
    );
    const out: string[] = [];
    for (const row of rows) {
      if (Number(row.idx) !== start + out.length) break; // a hole: stop at it
      out.push(row.entry);
    }
    return out;
  }

  async entriesJsonl(start: number, end: number): Promise<{ count: number; bytes: Uint8Array }> {
    if (!(end > start)) return { count: 0, bytes: new Uint8Array(0) };
    if (this.ctx.dialect === "postgres") {
      const entries = await this.entries(start, end);
      return { count: entries.length, bytes: Buffer.from(entries.length ? `${entries.join("\n")}\n` : "") };
    }
    // SQLite hands a BLOB over as bytes: the entries never become JavaScript strings on the way.
    const { rows } = await sql<{ idx: number; entry: Uint8Array }>`
      SELECT idx, CAST(entry AS BLOB) AS entry FROM audit_log WHERE idx >= ${start} AND idx < ${end}
      ORDER BY idx`.execute(this.ctx.db);
    const parts: Uint8Array[] = [];
    let count = 0;
    for (const row of rows) {
      if (Number(row.idx) !== start + count) break;
      parts.push(row.entry, NEWLINE);
      count++;
    }
    return { count, bytes: Buffer.concat(parts) };
  }

  async leafHashes(start: number, end: number): Promise<Uint8Array[]> {
    if (!(end > start)) return [];
    if (this.ctx.dialect === "sqlite") {
      // SQLite hands a BLOB over as bytes: hashed as stored, never decoded into a string.
      const { rows } = await sql<{ idx: number; entry: Uint8Array }>`
        SELECT idx, CAST(entry AS BLOB) AS entry FROM audit_log WHERE idx >= ${start} AND idx < ${end}
        ORDER BY idx`.execute(this.ctx.db);
      return dense(start, rows, (row) => hashEntry(row.entry));
    }
    // Hashed here rather than by PostgreSQL's sha256(): measured, the database spent more CPU on
    // hashing than on sending the entries, and its CPU is the append path's bottleneck.
    const { rows } = await sql<{ idx: number; entry: string }>`
      SELECT idx, entry FROM audit_log WHERE idx >= ${start} AND idx < ${end} ORDER BY idx`.execute(
      this.ctx.db,
    );
    return dense(start, rows, (row) => hashEntry(row.entry));
  }

  /** How far the id index reaches (`AuditTreeStore.indexedSize`). */
  private async indexedSize(): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT indexed_size AS n FROM audit_tree_state WHERE id = 1`.execute(this.ctx.db);
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Every filter but the index bounds, as conditions on `audit_log` columns (written so that they
   * also hold when the log is joined to `audit_entry_ids`).
   */
  private async conditions(
    filter: Parameters<AuditStore["query"]>[0],
    indexedSize: () => Promise<number>,
  ): Promise<{ conditions: Array<RawBuilder<SqlBool>>; claims: boolean }> {
    const out: Array<RawBuilder<SqlBool>> = [];
    let claims = false;
    if (filter.principal !== undefined) {
      const principal = filter.principal;
      // Agents the principal claimed (temporary agents) acted for the sandbox principal before
      // the claim; their entries are immutable, so the claim is joined in here instead. Checked
      // first so the common case stays a plain condition (and the principal the index key).
      const claimed = await this.ctx.db
        .selectFrom("agent_claims")
        .select("agent_id")
        .where("principal_id", "=", principal)
        .limit(1)
        .execute();
      claims = claimed.length > 0;
      const indexed = claims ? await indexedSize() : 0;
      out.push(
        !claims
          ? sql<SqlBool>`actor_principal = ${principal}`
          : // The union of index scans (the principal's and its claimed agents' keys below the
            // index's reach, the log past it), as a plain OR was not: SQLite scanned the whole
            // log in index order for it.
            sql<SqlBool>`audit_log.idx IN (
              ${
                AUDIT_KEY_KINDS[this.ctx.dialect].includes("principal")
                  ? sql`SELECT k.idx FROM audit_entry_ids k WHERE k.id = ${principal}`
                  : sql`SELECT idx FROM audit_log WHERE actor_principal = ${principal}`
              }
              UNION SELECT k.idx FROM audit_entry_ids k
                JOIN agent_claims c ON c.agent_id = k.id WHERE c.principal_id = ${principal}
              UNION SELECT idx FROM audit_log WHERE idx >= ${indexed} AND (actor_principal = ${principal}
                OR actor_agent IN (SELECT agent_id FROM agent_claims WHERE principal_id = ${principal})))`,
      );
    }
    if (filter.agent !== undefined) out.push(sql<SqlBool>`actor_agent = ${filter.agent}`);
    if (filter.action !== undefined) out.push(sql<SqlBool>`action = ${filter.action}`);
    if (filter.tokenId !== undefined) out.push(sql<SqlBool>`token_id = ${filter.tokenId}`);
    if (filter.resource !== undefined) out.push(sql<SqlBool>`resource = ${filter.resource}`);
    if (filter.decision !== undefined) {
      out.push(sql<SqlBool>`decision = ${filter.decision}`);
      // PostgreSQL's partial index (migration 12 keeps it) is used when its predicate is spelled out.
      if (filter.decision !== "allowed") out.push(sql<SqlBool>`decision <> 'allowed'`);
    }
    // The time range stays as an exact filter on `at` within the index range found for it.
    if (filter.since !== undefined) out.push(sql<SqlBool>`at >= ${filter.since}`);
    if (filter.until !== undefined) out.push(sql<SqlBool>`at <= ${filter.until}`);
    return { conditions: out, claims };
  }

  /**
   * Resolves an inclusive time range to exclusive index bounds (low, high) by binary search over
   * the primary key: the log is appended in time order, so `at` is non-decreasing along `idx`.
   */
  private async timeBounds(
    since: number | undefined,
    until: number | undefined,
  ): Promise<{ low: number; high: number }> {
    const size = await this.size();
    // First index whose `at` is ≥ t (size if none): a lower bound over [0, size).
    const firstAtOrAfter = async (t: number): Promise<number> => {
      let lo = 0;
      let hi = size;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        const at = await this.atOrAfter(mid);
        if (at === null || at >= t) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
    const low = since === undefined ? -1 : (await firstAtOrAfter(since)) - 1;
    const high = until === undefined ? size : await firstAtOrAfter(until + 1);
    return { low, high };
  }

  /** `at` of the first entry at index ≥ i (there is a hole only if rows were deleted), or null. */
  private async atOrAfter(i: number): Promise<number | null> {
    const { rows } = await sql<{ at: number }>`
      SELECT at FROM audit_log WHERE idx >= ${i} ORDER BY idx LIMIT 1`.execute(this.ctx.db);
    return rows[0] ? Number(rows[0].at) : null;
  }
}

/** A query column's text as stored (see appendPostgres): U+0000 and unpaired surrogates → U+FFFD. */
const col = (v: string | null): string | null => (v === null ? null : storableText(v));

/**
 * The `audit_entry_ids` key a query is driven by (migrations/shared/audit-entry-keys.ts), or
 * undefined for a scan of the log (through the column indexes PostgreSQL keeps): the most
 * selective filter the store indexes there. A principal with claimed agents is not a key (its
 * entries are a union, a condition of its own); "allowed" is not indexed, being most entries.
 */
function auditKey(
  filter: Parameters<AuditStore["query"]>[0],
  claims: boolean,
  dialect: "sqlite" | "postgres",
): string | undefined {
  // The kinds this store keeps in the table; the others are column indexes its planner picks.
  const kinds = AUDIT_KEY_KINDS[dialect];
  const candidates: Array<[AuditKeyKind, string | undefined]> = [
    ["agent", filter.agent],
    ["token", filter.tokenId],
    ["principal", claims ? undefined : filter.principal],
    ["resource", filter.resource === undefined ? undefined : `resource:${filter.resource}`],
    [
      "decision",
      filter.decision === undefined || filter.decision === "allowed"
        ? undefined
        : `decision:${filter.decision}`,
    ],
    ["action", filter.action === undefined ? undefined : `action:${filter.action}`],
  ];
  return candidates.find(([kind, key]) => key !== undefined && kinds.includes(kind))?.[1];
}

/** Rows per multi-row INSERT on SQLite (12 parameters each, far below its bound-variable limit). */
const SQLITE_INSERT_ROWS = 200;

const NEWLINE = Buffer.from("\n");

const insertEntriesTexts = new Map<number, string>();

/** The SQLite multi-row INSERT for `rows` entries, cached by row count. */
function insertEntriesSql(rows: number): string {
  let text = insertEntriesTexts.get(rows);
  if (!text) {
    text = `INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain, actor_principal,
      target, resource, token_id, grant_id, entry) VALUES ${Array(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;
    if (insertEntriesTexts.size < 64) insertEntriesTexts.set(rows, text);
  }
  return text;
}

/**
 * PostgreSQL: the whole batch in one statement, so one round trip, atomic on its own. The
 * `UPDATE` of the single-row head reserves the range and locks the row until the statement's (or
 * the surrounding) transaction ends, which serialises appends across processes and keeps indexes
 * dense; each entry's index is spliced between its head and tail by the database. A
 * data-modifying CTE always runs to completion (PostgreSQL docs, "WITH Queries", §7.8.4).
 *
 * The rows travel column by column (`unnest … WITH ORDINALITY`), each column as one text joined
 * by "\n" and split by `string_to_array`: the entries' heads and tails, the bulk of the bytes,
 * always (canonical JSON never holds a raw line feed, RFC 8785 §3.2.2.2), the query columns when
 * none of their values holds one (else as a text array, see `joinColumn`). Measured
 * against a JSON array of records (`json_to_recordset`, which PostgreSQL parses twice: once to
 * check the `json` parameter, once to read it) and against text arrays, whose every quote the
 * driver and the server escape and unescape: about a quarter less database CPU per entry. A
 * template holding a line feed (not canonical JSON, but the interface allows it) takes the JSON
 * form instead, as does an empty head or tail.
 */
async function appendPostgres(db: Kysely<Database>, items: AppendItems): Promise<number[]> {
  const n = items.length;
  const joinable = items.every(({ entry: e }) => splittable(e.head) && splittable(e.tail));
  const { rows: out } = await (joinable ? appendSplit(db, items) : appendJson(db, items));
  const start = Number(out[0]?.start);
  if (!Number.isSafeInteger(start)) throw new Error("audit_head has no row: the database was not migrated");
  return Array.from({ length: n }, (_, k) => start + k);
}

/**
 * Survives joining by "\n" and `string_to_array` (which turns an empty string into no element).
 * The search also flattens the template's pieces (V8 builds them as ropes): measured, skipping it
 * for templates known to be canonical cost 7–10 µs more Node CPU per entry, spent walking the
 * same ropes twice later (once joined into the batch, once hashed for the leaf cache).
 */
const splittable = (text: string): boolean => text.length > 0 && !text.includes("\n");

type AppendItems = ReadonlyArray<{ fields: Omit<AuditRecord, "index" | "entry">; entry: EntryTemplate }>;

function appendSplit(db: Kysely<Database>, items: AppendItems) {
  const n = items.length;
  // The query columns carry raw strings: one holding U+0000 would make PostgreSQL refuse the
  // batch. They are stored with U+FFFD instead (`col`); the entry itself is canonical JSON,
  // already escaped, and kept exactly.
  const at: number[] = [];
  const action: (string | null)[] = [];
  const decision: string[] = [];
  const agent: (string | null)[] = [];
  const chain: (string | null)[] = [];
  const principal: (string | null)[] = [];
  const target: (string | null)[] = [];
  const resource: (string | null)[] = [];
  const token: (string | null)[] = [];
  const grant: (string | null)[] = [];
  let heads = "";
  let tails = "";
  items.forEach(({ fields: f, entry }, k) => {
    at.push(f.at);
    action.push(col(f.action));
    decision.push(f.decision);
    agent.push(col(f.actorAgent));
    chain.push(col(toJson(f.actorChain)));
    principal.push(col(f.actorPrincipal));
    target.push(col(f.target));
    resource.push(col(f.resource));
    token.push(col(f.tokenId));
    grant.push(col(f.grantId));
    heads += k === 0 ? entry.head : `\n${entry.head}`;
    tails += k === 0 ? entry.tail : `\n${entry.tail}`;
  });
  const columns = [action, decision, agent, chain, principal, target, resource, token, grant].flatMap(
    (values): unknown[] => {
      const text = joinColumn(values);
      return text === null ? [null, values] : [text, null];
    },
  );
  return db.executeQuery<{ start: string | number }>(
    CompiledQuery.raw(APPEND_SPLIT_SQL, [n, at.join(","), ...columns, heads, tails]),
  );
}

/** Stands for NULL in a joined column (`string_to_array`'s third argument). */
const NULL_MARK = "\u0001";

/**
 * A query column's values joined by "\n", NULL as {@link NULL_MARK}; or null when some value
 * would not survive the split (a line feed, the mark itself, an empty string, which
 * `string_to_array` drops when it is the only one): that column then travels as a text array.
 */
function joinColumn(values: readonly (string | null)[]): string | null {
  let out = "";
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (v !== null && (v.length === 0 || v === NULL_MARK || v.includes("\n"))) return null;
    out += k === 0 ? (v ?? NULL_MARK) : `\n${v ?? NULL_MARK}`;
  }
  return out;
}

/**
 * A query column in {@link APPEND_SPLIT_SQL}: parameters `$joined` (see {@link joinColumn}) and
 * `$array`, exactly one of them not null.
 */
const column = (joined: number): string =>
  `COALESCE(string_to_array($${joined}::text, E'\\n', E'\\x01'), $${joined + 1}::text[])`;

/** {@link appendSplit}'s statement: fixed text, so a named prepared statement (sql/prepared.ts). */
const APPEND_SPLIT_SQL = prepared(`
  WITH head AS (
    UPDATE audit_head SET size = size + $1::bigint WHERE id = 1 RETURNING size - $1::bigint AS start
  ), inserted AS (
    INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain, actor_principal,
      target, resource, token_id, grant_id, entry)
    SELECT head.start + r.k - 1, r.at, r.action, r.decision, r.agent, r.chain, r.principal,
      r.target, r.resource, r.token, r.grant, r.head || (head.start + r.k - 1)::text || r.tail
    FROM head, unnest(string_to_array($2::text, ',')::bigint[], ${[3, 5, 7, 9, 11, 13, 15, 17, 19].map(column).join(", ")},
      string_to_array($21::text, E'\\n'), string_to_array($22::text, E'\\n'))
      WITH ORDINALITY AS r(at, action, decision, agent, chain, principal, target, resource, token,
        "grant", head, tail, k)
  )
  SELECT start FROM head`);

function appendJson(db: Kysely<Database>, items: AppendItems) {
  const n = items.length;
  const rows = JSON.stringify(
    items.map(({ fields: f, entry }, k) => ({
      k,
      at: f.at,
      action: col(f.action),
      decision: f.decision,
      agent: col(f.actorAgent),
      chain: col(toJson(f.actorChain)),
      principal: col(f.actorPrincipal),
      target: col(f.target),
      resource: col(f.resource),
      token: col(f.tokenId),
      grant: col(f.grantId),
      head: entry.head,
      tail: entry.tail,
    })),
  );
  return sql<{ start: string | number }>`
    WITH head AS (
      UPDATE audit_head SET size = size + ${n} WHERE id = 1 RETURNING size - ${n} AS start
    ), inserted AS (
      INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain, actor_principal,
        target, resource, token_id, grant_id, entry)
      SELECT head.start + r.k, r.at, r.action, r.decision, r.agent, r.chain, r.principal, r.target,
        r.resource, r.token, r.grant, r.head || (head.start + r.k)::text || r.tail
      FROM head, json_to_recordset(${rows}::json) AS r(k bigint, at bigint, action text, decision text,
        agent text, chain text, principal text, target text, resource text, token text, "grant" text,
        head text, tail text)
    )
    SELECT start FROM head`.execute(db);
}

async function sqliteSize(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM audit_log`.execute(
    db,
  );
  return Number(rows[0]?.n ?? 0);
}

function toAudit(r: Selectable<AuditLogTable>): AuditRecord {
  return {
    index: Number(r.idx),
    at: r.at,
    action: r.action,
    decision: r.decision as AuditRecord["decision"],
    actorAgent: r.actor_agent,
    actorChain: fromJson<string[]>(r.actor_chain),
    actorPrincipal: r.actor_principal,
    target: r.target,
    resource: r.resource,
    tokenId: r.token_id,
    grantId: r.grant_id,
    entry: r.entry,
  };
}

/** `map` of each row while the rows' indexes run densely from `start`; stops at the first hole. */
function dense<R extends { idx: number }, T>(start: number, rows: readonly R[], map: (row: R) => T): T[] {
  const out: T[] = [];
  for (const row of rows) {
    if (Number(row.idx) !== start + out.length) break;
    out.push(map(row));
  }
  return out;
}
