/**
 * SQL implementation of {@link AuditTreeStore}: the audit ledger's Merkle tree nodes, its state
 * row, signed checkpoints and the log key. Node inserts are batched (SQLite: multi-row VALUES;
 * PostgreSQL: one insert per call) and idempotent (nodes already stored are skipped), so an
 * integrator that repeats work after a crash or a lost race changes nothing.
 *
 * @example
 * await store.transaction(async (tx) => {
 *   const state = await tx.auditTree.lockState();
 *   await tx.auditTree.putNodes(nodes);
 *   await tx.auditTree.indexEntries(await tx.auditTree.indexedSize(), state.size + n);
 *   await tx.auditTree.setState({ size: state.size + n, rootHash, updatedAt: Date.now() });
 * });
 */
import { CompiledQuery, sql } from "kysely";
import type { AuditTreeStore } from "../index.js";
import { AUDIT_KEY_KINDS, auditEntryKeys } from "../migrations/shared/audit-entry-keys.js";
import type {
  AuditCheckpointRecord,
  AuditLogKeyRecord,
  AuditTreeNodeRecord,
  AuditTreeState,
} from "../types.js";
import type { SqlContext } from "./context.js";
import { prepared } from "./prepared.js";

/** The index rows of entries [start, end): `?` pairs, one per kind of key, on SQLite; `$1`, `$2` on PostgreSQL. */
const INDEX_ENTRIES_SQLITE = `INSERT INTO audit_entry_ids (id, idx) ${auditEntryKeys("idx >= ? AND idx < ?", AUDIT_KEY_KINDS.sqlite)}`;
/** SQLite numbers no placeholders here: one `?` pair per kind of key. */
const KEY_KINDS = AUDIT_KEY_KINDS.sqlite.length;
const INDEX_ENTRIES_POSTGRES = prepared(
  `INSERT INTO audit_entry_ids (id, idx) ${auditEntryKeys("idx >= $1 AND idx < $2", AUDIT_KEY_KINDS.postgres)}`,
);

/** Rows per multi-row INSERT on SQLite (3 parameters each, far below its bound-variable limit). */
const SQLITE_INSERT_ROWS = 256;
/** SHA-256. */
const HASH_BYTES = 32;
/** Node ids per lookup query (2 parameters each). */
const LOOKUP_CHUNK = 400;

export class SqlAuditTreeStore implements AuditTreeStore {
  constructor(private readonly ctx: SqlContext) {}

  async state(): Promise<AuditTreeState> {
    const { rows } = await sql<StateRow>`
      SELECT size, root, updated_at FROM audit_tree_state WHERE id = 1`.execute(this.ctx.db);
    return toState(rows[0]);
  }

  async lockState(): Promise<AuditTreeState | null> {
    // SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    if (this.ctx.dialect === "sqlite") return this.state();
    // SKIP LOCKED: a busy integrator elsewhere means "not now", never a wait, so this lock can
    // never close a deadlock cycle with other row locks the transaction holds (the audit head).
    const { rows } = await sql<StateRow>`
      SELECT size, root, updated_at FROM audit_tree_state WHERE id = 1 FOR UPDATE SKIP LOCKED`.execute(
      this.ctx.db,
    );
    return rows[0] ? toState(rows[0]) : null;
  }

  async setState(state: AuditTreeState): Promise<void> {
    await sql`UPDATE audit_tree_state SET size = ${state.size}, root = ${bytes(state.rootHash)},
      updated_at = ${state.updatedAt} WHERE id = 1`.execute(this.ctx.db);
  }

  async indexedSize(): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT indexed_size AS n FROM audit_tree_state WHERE id = 1`.execute(this.ctx.db);
    return Number(rows[0]?.n ?? 0);
  }

  async indexEntries(start: number, end: number): Promise<void> {
    if (!(end > start)) return;
    // The caller holds the state row: this moves the indexed size only from where it is.
    // The caller holds the state row: this moves the indexed size only from where it is, and
    // only over integrated entries (final: no append can take their indexes any more).
    const moved = await sql`UPDATE audit_tree_state SET indexed_size = ${end}
      WHERE id = 1 AND indexed_size = ${start} AND size >= ${end}`.execute(this.ctx.db);
    if (Number(moved.numAffectedRows ?? 0) !== 1) {
      throw new Error(
        `not indexing audit entries [${start}, ${end}): the index does not end at ${start}, or the tree not at ${end} or past it`,
      );
    }
    // In key order (auditEntryKeys), exactly once per entry: the indexed size moved from `start`
    // under the state row's lock, so no other transaction indexes these entries.
    const sqlite = this.ctx.dialect === "sqlite";
    await this.ctx.db.executeQuery(
      CompiledQuery.raw(
        sqlite ? INDEX_ENTRIES_SQLITE : INDEX_ENTRIES_POSTGRES,
        sqlite ? Array.from({ length: KEY_KINDS }, () => [start, end]).flat() : [start, end],
      ),
    );
  }

  async putNodes(nodes: readonly AuditTreeNodeRecord[]): Promise<void> {
    if (nodes.length === 0) return;
    if (this.ctx.dialect === "postgres") {
      // Idempotent without a probe per node: one query looks for any stored node within the
      // batch's index range on each of its levels. An integrator repeating work (after a crash or
      // a lost race) finds some and inserts through an anti-join, which skips them; otherwise,
      // the usual case, the nodes are inserted as they are. (An anti-join on every insert cost
      // 4–8 µs of database CPU per entry; ON CONFLICT, three times that.) Concurrent integrators
      // are kept apart by the state lock; a race that slipped past it would fail on the primary
      // key and be retried.
      // Levels and indexes travel as arrays, the hashes as one BYTEA cut into 32-byte pieces:
      // the driver would escape every BYTEA of an array, and JSON costs a parse per node.
      const levels: number[] = [];
      const indexes: number[] = [];
      const hashes = Buffer.allocUnsafe(nodes.length * HASH_BYTES);
      nodes.forEach((n, k) => {
        if (n.hash.length !== HASH_BYTES)
          throw new Error(`an audit tree node hash must be ${HASH_BYTES} bytes`);
        levels.push(n.level);
        indexes.push(n.index);
        hashes.set(n.hash, k * HASH_BYTES);
      });
      const fresh = !(await anyStored(this.ctx, nodes));
      await this.ctx.db.executeQuery(
        CompiledQuery.raw(fresh ? INSERT_NODES_SQL : PUT_NODES_SQL, [levels, indexes, hashes]),
      );
      return;
    }
    // Pre-compiled text with a flat parameter list: the per-row query-builder objects would cost
    // more than the insert itself at tens of thousands of rows a second.
    for (let i = 0; i < nodes.length; i += SQLITE_INSERT_ROWS) {
      const chunk = nodes.slice(i, i + SQLITE_INSERT_ROWS);
      const params: unknown[] = [];
      for (const n of chunk) params.push(n.level, n.index, bytes(n.hash));
      await this.ctx.db.executeQuery(CompiledQuery.raw(insertNodesSql(chunk.length), params));
    }
  }

  async nodes(ids: ReadonlyArray<{ level: number; index: number }>): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      const chunk = ids.slice(i, i + LOOKUP_CHUNK);
      // Row-value IN lists are supported by both dialects and probe the (level, idx) primary key.
      const { rows } = await sql<{ level: number; idx: number; hash: Uint8Array }>`
        SELECT level, idx, hash FROM audit_tree_nodes
        WHERE (level, idx) IN (${sql.join(chunk.map((n) => sql`(${n.level}, ${n.index})`))})`.execute(
        this.ctx.db,
      );
      for (const r of rows) out.set(`${Number(r.level)}/${Number(r.idx)}`, toBytes(r.hash));
    }
    return out;
  }

  async leaves(start: number, end: number): Promise<Uint8Array[]> {
    if (!(end > start)) return [];
    const { rows } = await sql<{ idx: number; hash: Uint8Array }>`
      SELECT idx, hash FROM audit_tree_nodes WHERE level = 0 AND idx >= ${start} AND idx < ${end}
      ORDER BY idx`.execute(this.ctx.db);
    const out: Uint8Array[] = [];
    for (const r of rows) {
      if (Number(r.idx) !== start + out.length) break;
      // Each row's hash is a buffer of its own (both drivers allocate one per value): no copy.
      out.push(r.hash);
    }
    return out;
  }

  async addCheckpoint(c: AuditCheckpointRecord): Promise<void> {
    await sql`INSERT INTO audit_checkpoints (size, root, note, created_at)
      VALUES (${c.size}, ${bytes(c.rootHash)}, ${c.note}, ${c.createdAt})
      ON CONFLICT DO NOTHING`.execute(this.ctx.db);
  }

  async latestCheckpoint(): Promise<AuditCheckpointRecord | null> {
    const { rows } = await sql<{ size: number; root: Uint8Array; note: string; created_at: number }>`
      SELECT size, root, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1`.execute(
      this.ctx.db,
    );
    const r = rows[0];
    return r
      ? { size: Number(r.size), rootHash: toBytes(r.root), note: r.note, createdAt: Number(r.created_at) }
      : null;
  }

  async logKey(): Promise<AuditLogKeyRecord | null> {
    const { rows } = await sql<{
      name: string;
      public_key: Uint8Array;
      private_key_enc: string;
      created_at: number;
    }>`SELECT name, public_key, private_key_enc, created_at FROM audit_log_key WHERE id = 1`.execute(
      this.ctx.db,
    );
    const r = rows[0];
    return r
      ? {
          name: r.name,
          publicKey: toBytes(r.public_key),
          privateKeyEnc: r.private_key_enc,
          createdAt: Number(r.created_at),
        }
      : null;
  }

  async ensureLogKey(key: AuditLogKeyRecord): Promise<AuditLogKeyRecord> {
    await sql`INSERT INTO audit_log_key (id, name, public_key, private_key_enc, created_at)
      VALUES (1, ${key.name}, ${bytes(key.publicKey)}, ${key.privateKeyEnc}, ${key.createdAt})
      ON CONFLICT DO NOTHING`.execute(this.ctx.db);
    const stored = await this.logKey();
    if (!stored) throw new Error("the audit log key could not be stored");
    return stored;
  }
}

/** PostgreSQL's node insert (see `putNodes`): fixed text, a named prepared statement. */
const INSERT_NODES_SQL = prepared(`
  INSERT INTO audit_tree_nodes (level, idx, hash)
  SELECT r.l, r.i, substring($3::bytea FROM ((r.k - 1) * ${HASH_BYTES} + 1)::int FOR ${HASH_BYTES})
  FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS r(l, i, k)`);

/** {@link INSERT_NODES_SQL} skipping the nodes already stored. */
const PUT_NODES_SQL = prepared(`${INSERT_NODES_SQL}
  WHERE NOT EXISTS (SELECT 1 FROM audit_tree_nodes n WHERE n.level = r.l AND n.idx = r.i)`);

/**
 * Whether any node is stored within the index range `nodes` span on any of their levels: one
 * primary-key range probe per level (a few levels per batch), not one per node.
 */
async function anyStored(ctx: SqlContext, nodes: readonly AuditTreeNodeRecord[]): Promise<boolean> {
  const ranges = new Map<number, { lo: number; hi: number }>();
  for (const { level, index } of nodes) {
    const r = ranges.get(level);
    if (!r) ranges.set(level, { lo: index, hi: index });
    else {
      if (index < r.lo) r.lo = index;
      if (index > r.hi) r.hi = index;
    }
  }
  const probes = [...ranges].map(
    ([level, { lo, hi }]) =>
      sql`SELECT 1 FROM audit_tree_nodes WHERE level = ${level} AND idx BETWEEN ${lo} AND ${hi}`,
  );
  const { rows } = await sql`SELECT EXISTS (${sql.join(probes, sql` UNION ALL `)}) AS stored`.execute(ctx.db);
  return (rows[0] as { stored: boolean } | undefined)?.stored === true;
}

const insertNodesTexts = new Map<number, string>();

/** `INSERT … VALUES (?, ?, ?), …` for `rows` rows (SQLite placeholders), cached by row count. */
function insertNodesSql(rows: number): string {
  let text = insertNodesTexts.get(rows);
  if (!text) {
    text = `INSERT INTO audit_tree_nodes (level, idx, hash) VALUES ${Array(rows).fill("(?, ?, ?)").join(", ")} ON CONFLICT DO NOTHING`;
    if (insertNodesTexts.size < 64) insertNodesTexts.set(rows, text);
  }
  return text;
}

interface StateRow {
  size: number;
  root: Uint8Array;
  updated_at: number;
}

function toState(row: StateRow | undefined): AuditTreeState {
  if (!row) throw new Error("audit_tree_state has no row: the database was not migrated");
  return { size: Number(row.size), rootHash: toBytes(row.root), updatedAt: Number(row.updated_at) };
}

/** Drivers bind Buffers as BLOB / BYTEA. */
function bytes(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** A plain Uint8Array copy (drivers return Buffers that may share a pool). */
function toBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
