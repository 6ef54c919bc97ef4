import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  createPostgresTestStore,
  createSqliteTestStore,
  dropSchema,
  uniqueSchemaName,
} from "../test-support/store.js";
import { grant, principal, seedAgent, T0, token } from "./conformance/fixtures.js";
import { runStoreConformance } from "./conformance.js";
import { MIGRATIONS as ALL_MIGRATIONS, migrate } from "./migrate.js";
import { openStore } from "./open.js";
import { createPool } from "./postgres.js";
import type { Database } from "./schema.js";
import { DeputySqliteDialect } from "./sqlite-dialect.js";

const PG_URL = process.env.DEPUTY_TEST_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test";
/** In CI, or when a database is configured explicitly, PostgreSQL must be tested. */
const PG_REQUIRED = Boolean(process.env.CI || process.env.DEPUTY_TEST_DATABASE_URL);
const PG_REACHABLE = await reachable(PG_URL);
/** Schema versions a fresh database ends up with (001 init, 002 audit ledger, 003 revocation events, 004 broker, 005 provisioning, 006 statement binding, 007 unbound provenance, 008 audit tree format, 009 audit entry ids, 010 token state version, 011 audit indexed size). */
const MIGRATIONS = ALL_MIGRATIONS.sqlite.length;

/** Migrates a fresh database part of the way, writes rows as of then, and reopens it (all of it). */
type MigrationCheck = (
  db: Kysely<Database>,
  dialect: "sqlite" | "postgres",
  reopen: () => Promise<Awaited<ReturnType<typeof openStore>>>,
) => Promise<void>;

/** Runs `check` on a fresh PostgreSQL schema, then `inspect` reads it; the schema is dropped. */
async function onPostgresSchema(check: MigrationCheck, inspect: (schema: string) => Promise<void>) {
  const schema = uniqueSchemaName();
  try {
    const pool = createPool(PG_URL, schema, 1);
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    await check(db, "postgres", () => openStore({ url: PG_URL, schema }));
    await inspect(schema);
  } finally {
    await dropSchema(PG_URL, schema);
  }
}

/**
 * Migration 009 on a log of five entries whose first three are integrated: the backfill indexes
 * those by agent and token, the entries past the tree are scanned, and each query answers its own.
 */
const checkAgentIndexMigration: MigrationCheck = async (db, dialect, reopen) => {
  await migrate(
    db,
    dialect,
    ALL_MIGRATIONS[dialect].filter((m) => m.version <= 8),
  );
  const entries: Array<[string | null, string | null]> = [
    ["agt_a", "tok_x"],
    ["agt_b", null],
    ["agt_a", "tok_y"],
    ["agt_a", "tok_x"],
    [null, "tok_x"],
  ];
  for (const [idx, [agent, token]] of entries.entries()) {
    await sql`INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain, token_id, entry)
      VALUES (${idx}, ${idx}, 'token.issued', 'allowed', ${agent}, '[]', ${token}, ${`{"index":${idx}}`})`.execute(
      db,
    );
  }
  if (dialect === "postgres") await sql`UPDATE audit_head SET size = 5 WHERE id = 1`.execute(db);
  await sql`UPDATE audit_tree_state SET size = 3 WHERE id = 1`.execute(db);
  await db.destroy();
  const store = await reopen();
  try {
    const ids = async (filter: { agent?: string; tokenId?: string }, order: "asc" | "desc") =>
      (await store.audit.query(filter, { limit: 10, order })).items.map((r) => r.index);
    expect(await ids({ agent: "agt_a" }, "asc")).toEqual([0, 2, 3]);
    expect(await ids({ agent: "agt_a" }, "desc")).toEqual([3, 2, 0]);
    expect(await ids({ agent: "agt_b" }, "asc")).toEqual([1]);
    expect(await ids({ tokenId: "tok_x" }, "asc")).toEqual([0, 3, 4]);
    expect(await ids({ tokenId: "tok_y" }, "desc")).toEqual([2]);
  } finally {
    await store.close();
  }
};

/**
 * Migration 012 on a log of four entries, three of them indexed (011): the backfill adds their
 * principal, resource, decision and action keys, the fourth is scanned, and each query answers.
 */
const checkEntryKeysMigration: MigrationCheck = async (db, dialect, reopen) => {
  await migrate(
    db,
    dialect,
    ALL_MIGRATIONS[dialect].filter((m) => m.version <= 11),
  );
  const entries: Array<[string | null, string | null, string]> = [
    ["prn_a", "https://r.example", "allowed"],
    ["prn_b", null, "denied"],
    [null, "https://r.example", "denied"],
    ["prn_a", null, "error"],
  ];
  for (const [idx, [principal, resource, decision]] of entries.entries()) {
    await sql`INSERT INTO audit_log (idx, at, action, decision, actor_chain, actor_principal, resource, entry)
      VALUES (${idx}, ${idx}, 'token.issued', ${decision}, '[]', ${principal}, ${resource}, ${`{"index":${idx}}`})`.execute(
      db,
    );
  }
  if (dialect === "postgres") await sql`UPDATE audit_head SET size = 4 WHERE id = 1`.execute(db);
  await sql`UPDATE audit_tree_state SET size = 4, indexed_size = 3 WHERE id = 1`.execute(db);
  await db.destroy();
  const store = await reopen();
  try {
    const ids = async (filter: Parameters<typeof store.audit.query>[0]) =>
      (await store.audit.query(filter, { limit: 10, order: "asc" })).items.map((r) => r.index);
    expect(await ids({ principal: "prn_a" })).toEqual([0, 3]);
    expect(await ids({ resource: "https://r.example" })).toEqual([0, 2]);
    expect(await ids({ decision: "denied" })).toEqual([1, 2]);
    expect(await ids({ decision: "error" })).toEqual([3]);
    expect(await ids({ decision: "allowed" })).toEqual([0]);
    expect(await ids({ action: "token.issued", principal: "prn_b" })).toEqual([1]);
  } finally {
    await store.close();
  }
};

/** The keys 012 writes for entries 0–2 of {@link checkEntryKeysMigration}, sorted. */
const ENTRY_KEYS_012 = [
  "action:token.issued:0",
  "action:token.issued:1",
  "action:token.issued:2",
  "decision:denied:1",
  "decision:denied:2",
  "prn_a:0",
  "prn_b:1",
  "resource:https://r.example:0",
  "resource:https://r.example:2",
];

/**
 * Migration 006 on a database that already has a provenance issuer (registered at 005): that
 * issuer keeps accepting unbound statements; an issuer inserted afterwards without naming the
 * column requires binding (the column's default).
 */
const checkStatementBindingMigration: MigrationCheck = async (db, dialect, reopen) => {
  await migrate(
    db,
    dialect,
    ALL_MIGRATIONS[dialect].filter((m) => m.version <= 5),
  );
  const insert = (id: string) =>
    sql`INSERT INTO provenance_issuers (id, name, issuer, jwks, created_at)
      VALUES (${id}, 'CI', ${`https://${id}.test`}, '{"keys":[]}', 1)`.execute(db);
  await insert("pvi_before");
  // An agent whose statement was verified before binding existed: its record has no `bound`.
  const verified = JSON.stringify({
    iss: "https://pvi_before.test",
    sub: "run-1",
    code_digest: "sha256:x",
    exp: 9,
  });
  await sql`INSERT INTO principals (id, type, name, status, created_at) VALUES ('prn_before', 'service', 'P', 'active', 1)`.execute(
    db,
  );
  await sql`INSERT INTO agents (id, principal_id, chain, name, status, created_at, provenance_verified)
    VALUES ('agt_before', 'prn_before', '[]', 'A', 'active', 1, ${verified})`.execute(db);
  await db.destroy();
  const store = await reopen();
  try {
    expect(await store.provenanceIssuers.get("pvi_before")).toMatchObject({ requireKeyBinding: false });
    expect((await store.agents.get("agt_before"))?.verifiedProvenance).toEqual({
      iss: "https://pvi_before.test",
      sub: "run-1",
      code_digest: "sha256:x",
      exp: 9,
      bound: false,
    });
  } finally {
    await store.close();
  }
};

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function pgScalar(schema: string, query: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    return (await client.query(query)).rows[0]?.v;
  } finally {
    await client.end();
  }
}

runStoreConformance({ name: "sqlite", create: createSqliteTestStore });

describe("SQLite store opening and migrations", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function tempDir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), "deputy-open-"));
    dirs.push(d);
    return d;
  }
  /** Runs `check` on a fresh SQLite file, then `inspect` reads the file directly. */
  async function onSqliteFile(check: MigrationCheck, inspect: (raw: BetterSqlite3.Database) => void) {
    const path = join(await tempDir(), "deputy.db");
    const db = new Kysely<Database>({ dialect: new DeputySqliteDialect(new BetterSqlite3(path)) });
    await check(db, "sqlite", () => openStore({ url: path }));
    const raw = new BetterSqlite3(path);
    try {
      inspect(raw);
    } finally {
      raw.close();
    }
  }

  it("is idempotent: reopening keeps data and applies nothing twice", async () => {
    const dir = await tempDir();
    const url = `sqlite:${join(dir, "nested", "deputy.db")}`;
    const p = principal();
    const first = await openStore({ url });
    await first.principals.create(p);
    await first.close();
    const second = await openStore({ url, durability: "full" });
    expect(await second.principals.get(p.id)).toEqual(p);
    await second.close();
    const raw = new BetterSqlite3(join(dir, "nested", "deputy.db"), { readonly: true });
    try {
      expect(raw.prepare("SELECT count(*) AS n FROM schema_migrations").get()).toEqual({ n: MIGRATIONS });
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      raw.close();
    }
  });

  it("opens <dataDir>/deputy.db when no url is given, and plain paths", async () => {
    const dir = await tempDir();
    const a = await openStore({ dataDir: join(dir, "data") });
    expect(a.dialect).toBe("sqlite");
    await a.close();
    const b = await openStore({ url: join(dir, "data", "deputy.db") });
    expect(await b.audit.size()).toBe(0);
    await b.close();
  });

  it("refuses a database migrated by a newer version", async () => {
    const dir = await tempDir();
    const path = join(dir, "deputy.db");
    await (await openStore({ url: path })).close();
    const raw = new BetterSqlite3(path);
    raw.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)").run();
    raw.close();
    await expect(openStore({ url: path })).rejects.toThrow(/999/);
  });

  it("serialises several processes opening and appending to one fresh file", async () => {
    const dir = await tempDir();
    const path = join(dir, "deputy.db");
    const openUrl = new URL("./open.ts", import.meta.url).href;
    const code = `
      const { openStore } = await import(${JSON.stringify(openUrl)});
      const s = await openStore({ url: ${JSON.stringify(path)} });
      const f = { at: 1, action: "x", decision: "info", actorAgent: null, actorChain: [], actorPrincipal: null,
        target: null, resource: null, tokenId: null, grantId: null };
      for (let i = 0; i < 100; i++) await s.audit.append(f, { head: "", tail: "" });
      await s.close();`;
    const run = () =>
      new Promise<void>((resolve, reject) => {
        execFile(
          process.execPath,
          ["--import", "tsx", "--input-type=module", "-e", code],
          (err, _out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()),
        );
      });
    await Promise.all([run(), run(), run()]);
    const raw = new BetterSqlite3(path, { readonly: true });
    try {
      expect(raw.prepare("SELECT count(*) AS n, max(idx) AS top FROM audit_log").get()).toEqual({
        n: 300,
        top: 299,
      });
      expect(raw.prepare("SELECT count(*) AS n FROM schema_migrations").get()).toEqual({ n: MIGRATIONS });
    } finally {
      raw.close();
    }
  }, 60_000);

  it("006 keeps issuers registered before it accepting unbound statements; new ones require binding", async () => {
    await onSqliteFile(checkStatementBindingMigration, (raw) => {
      raw
        .prepare(
          `INSERT INTO provenance_issuers (id, name, issuer, jwks, created_at) VALUES ('pvi_after', 'CI', 'https://after.test', '{"keys":[]}', 2)`,
        )
        .run();
      expect(
        raw.prepare("SELECT id, require_key_binding AS v FROM provenance_issuers ORDER BY created_at").all(),
      ).toEqual([
        { id: "pvi_before", v: 0 },
        { id: "pvi_after", v: 1 },
      ]);
    });
  });

  it("009 indexes the integrated entries by agent and token and drops the indexes every append updated; 011 records how far", async () => {
    await onSqliteFile(checkAgentIndexMigration, (raw) => {
      expect(raw.prepare("SELECT indexed_size FROM audit_tree_state").pluck().get()).toBe(3);
      expect(raw.prepare("SELECT id, idx FROM audit_entry_ids ORDER BY id, idx").all()).toEqual([
        // 012: the action (and principal, resource, decision) keys of the same entries.
        { id: "action:token.issued", idx: 0 },
        { id: "action:token.issued", idx: 1 },
        { id: "action:token.issued", idx: 2 },
        { id: "agt_a", idx: 0 },
        { id: "agt_a", idx: 2 },
        { id: "agt_b", idx: 1 },
        { id: "tok_x", idx: 0 },
        { id: "tok_y", idx: 2 },
      ]);
      expect(
        raw
          .prepare(
            `SELECT name FROM sqlite_master WHERE name IN ('audit_agent_idx', 'audit_token_idx',
              'audit_principal_idx', 'audit_action_idx', 'audit_decision_idx', 'audit_resource_idx')`,
          )
          .all(),
      ).toEqual([]);
    });
  });

  it("010: a token read by one process reads revoked once another process, or a bare UPDATE, revokes it", async () => {
    const path = join(await tempDir(), "deputy.db");
    const a = await openStore({ url: path });
    const b = await openStore({ url: path });
    const raw = new BetterSqlite3(path);
    try {
      const { agent: agt, grant: g } = await seedAgent(a);
      const g2 = grant(agt);
      await a.grants.create(g2);
      const [t1, t2] = [token(g), token(g2)];
      for (const t of [t1, t2]) await a.tokens.create(t);
      const state = async (t: { id: string }) => (await a.tokens.get(t.id))?.revokedAt;
      for (let i = 0; i < 3; i++) expect([await state(t1), await state(t2)]).toEqual([null, null]);
      await b.grants.revoke([g.id], T0 + 1);
      expect(await state(t1)).toBe(T0 + 1);
      // An operator's shell: the triggers are in the schema, not in this code.
      raw.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?").run(T0 + 2, t2.id);
      expect(await state(t2)).toBe(T0 + 2);
      // Writes that cannot change a token's state leave the version as it is.
      const version = () => raw.prepare("SELECT version FROM token_state_version").pluck().get();
      const before = version();
      raw
        .prepare("UPDATE grants SET tokens_issued = tokens_issued + 1, calls_made = 3 WHERE id = ?")
        .run(g2.id);
      await b.tokens.create(token(g2));
      expect(version()).toBe(before);
      raw.prepare("UPDATE grants SET revoked_at = ? WHERE id = ?").run(T0 + 3, g2.id);
      expect(version()).not.toBe(before);
    } finally {
      raw.close();
      await a.close();
      await b.close();
    }
  });

  it("012 indexes the principal, resource, decision and action of the entries the index reaches, and drops their indexes", async () => {
    await onSqliteFile(checkEntryKeysMigration, (raw) => {
      const rows = raw.prepare("SELECT id, idx FROM audit_entry_ids").all() as Array<{
        id: string;
        idx: number;
      }>;
      expect(rows.map((r) => `${r.id}:${r.idx}`).sort()).toEqual(ENTRY_KEYS_012);
    });
  });

  it("works in memory", async () => {
    const store = await openStore({ url: "sqlite::memory:" });
    expect(await store.tokens.nextStatusIndex()).toBe(0);
    await store.close();
  });
});

if (PG_REACHABLE || PG_REQUIRED) {
  describe("PostgreSQL availability", () => {
    it(`reaches ${PG_URL}`, () => {
      expect(PG_REACHABLE, `PostgreSQL at ${PG_URL} is required (CI or DEPUTY_TEST_DATABASE_URL set)`).toBe(
        true,
      );
    });
  });

  runStoreConformance({ name: "postgres", create: () => createPostgresTestStore(PG_URL) });

  describe("PostgreSQL store opening and migrations", () => {
    it("is idempotent: reopening the same schema keeps data", async () => {
      const schema = uniqueSchemaName();
      try {
        const p = principal();
        const first = await openStore({ url: PG_URL, schema });
        await first.principals.create(p);
        await first.close();
        const second = await openStore({ url: PG_URL, schema });
        expect(await second.principals.get(p.id)).toEqual(p);
        await second.close();
        expect(await pgScalar(schema, "SELECT count(*)::int AS v FROM schema_migrations")).toBe(MIGRATIONS);
      } finally {
        await dropSchema(PG_URL, schema);
      }
    });

    it("009 indexes the integrated entries by agent and token and drops the indexes every append updated; 011 records how far", async () => {
      await onPostgresSchema(checkAgentIndexMigration, async (schema) => {
        expect(Number(await pgScalar(schema, "SELECT indexed_size AS v FROM audit_tree_state"))).toBe(3);
        expect(
          await pgScalar(
            schema,
            "SELECT string_agg(id || ':' || idx, ',' ORDER BY id, idx) AS v FROM audit_entry_ids",
          ),
        ).toBe("agt_a:0,agt_a:2,agt_b:1,tok_x:0,tok_y:2");
        expect(
          await pgScalar(
            schema,
            "SELECT to_regclass('audit_agent_idx') IS NULL AND to_regclass('audit_token_idx') IS NULL AS v",
          ),
        ).toBe(true);
      });
    });

    it("006 keeps issuers registered before it accepting unbound statements; new ones require binding", async () => {
      await onPostgresSchema(checkStatementBindingMigration, async (schema) => {
        expect(
          await pgScalar(
            schema,
            `INSERT INTO provenance_issuers (id, name, issuer, jwks, created_at)
           VALUES ('pvi_after', 'CI', 'https://after.test', '{"keys":[]}', 2) RETURNING require_key_binding AS v`,
          ),
        ).toBe(true);
        expect(
          await pgScalar(
            schema,
            "SELECT require_key_binding AS v FROM provenance_issuers WHERE id = 'pvi_before'",
          ),
        ).toBe(false);
      });
    });

    it("012 keeps the principal, resource, decision and action indexes on PostgreSQL, and queries answer through them", async () => {
      await onPostgresSchema(checkEntryKeysMigration, async (schema) => {
        expect(await pgScalar(schema, "SELECT count(*)::int AS v FROM audit_entry_ids")).toBe(0);
        expect(
          await pgScalar(
            schema,
            `SELECT num_nonnulls(to_regclass('audit_principal_idx'), to_regclass('audit_action_idx'),
              to_regclass('audit_decision_idx'), to_regclass('audit_resource_idx')) AS v`,
          ),
        ).toBe(4);
      });
    });

    it("010: keeps a token state version that only a token's or a grant's revocation moves", async () => {
      const schema = uniqueSchemaName();
      const store = await openStore({ url: PG_URL, schema });
      try {
        const { grant: g } = await seedAgent(store);
        const t = token(g);
        await store.tokens.create(t);
        const version = async () =>
          Number(await pgScalar(schema, "SELECT version AS v FROM token_state_version"));
        const v0 = await version();
        expect(Number.isSafeInteger(v0)).toBe(true);
        expect(await store.grants.consumeTokenBudget(g.id, 10)).toBe(true);
        await store.tokens.create(token(g));
        expect(await version()).toBe(v0);
        await store.tokens.revoke(t.id, T0 + 1);
        const v1 = await version();
        expect(v1).not.toBe(v0);
        await store.grants.revoke([g.id], T0 + 2);
        expect(await version()).not.toBe(v1);
      } finally {
        await store.close();
        await dropSchema(PG_URL, schema);
      }
    });

    it("lets two processes open the same fresh schema at once", async () => {
      const schema = uniqueSchemaName();
      try {
        const stores = await Promise.all([
          openStore({ url: PG_URL, schema }),
          openStore({ url: PG_URL, schema }),
          openStore({ url: PG_URL, schema }),
        ]);
        const p = principal();
        await stores[0]?.principals.create(p);
        expect(await stores[1]?.principals.get(p.id)).toEqual(p);
        expect(await stores[2]?.audit.size()).toBe(0);
        for (const s of stores) await s.close();
        expect(await pgScalar(schema, "SELECT count(*)::int AS v FROM schema_migrations")).toBe(MIGRATIONS);
      } finally {
        await dropSchema(PG_URL, schema);
      }
    });

    it("never waits for the audit tree lock, so integrators cannot deadlock with appends", async () => {
      // Group commit runs unrelated items in one transaction: one process's batch may hold the
      // audit head (an append) when its integrator asks for the tree state, while another
      // process's batch holds the state and appends next. Waiting would close the cycle.
      const schema = uniqueSchemaName();
      try {
        const [a, b] = [await openStore({ url: PG_URL, schema }), await openStore({ url: PG_URL, schema })];
        const f = {
          at: 1,
          action: "x",
          decision: "info" as const,
          actorAgent: null,
          actorChain: [],
          actorPrincipal: null,
          target: null,
          resource: null,
          tokenId: null,
          grantId: null,
        };
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let bLocked!: () => void;
        const bHasState = new Promise<void>((r) => {
          bLocked = r;
        });
        const first = a!.transaction(async (tx) => {
          await tx.audit.append(f, { head: "", tail: "" }); // holds the head
          await bHasState;
          const state = await tx.auditTree.lockState(); // held by b: answers null at once
          release();
          return state;
        });
        const second = b!.transaction(async (tx) => {
          expect(await tx.auditTree.lockState()).not.toBeNull();
          bLocked();
          await gate;
          await tx.audit.append(f, { head: "", tail: "" }); // waits for a's head until a commits
        });
        expect(await first).toBeNull();
        await second;
        expect(await a!.audit.size()).toBe(2);
        await a!.close();
        await b!.close();
      } finally {
        await dropSchema(PG_URL, schema);
      }
    });

    it("rejects an unsafe schema name", async () => {
      await expect(openStore({ url: PG_URL, schema: 'x"; DROP TABLE y; --' })).rejects.toThrow(/schema name/);
      await expect(openStore({ url: PG_URL, schema: "Upper" })).rejects.toThrow(/schema name/);
    });

    it("revocation-event watch: re-LISTENs after its connection is killed, and ignores other schemas", async () => {
      const { store, cleanup, schema } = await createPostgresTestStore(PG_URL);
      const other = await createPostgresTestStore(PG_URL);
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      let calls = 0;
      // A long poll interval (10 × 60 s): only NOTIFY and reconnects can call back here.
      const stop = store.revocationEvents.watch(() => calls++, { pollMs: 60_000 });
      const waitFor = async (cond: () => boolean | Promise<boolean>) => {
        const deadline = Date.now() + 5_000;
        while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(await cond()).toBe(true);
      };
      const append = (s: typeof store) =>
        s.transaction((tx) =>
          tx.revocationEvents.append({
            at: 1,
            target: "agt_x",
            reason: null,
            cascade: { principals: [], agents: ["agt_x"], grants: [], tokens: [] },
          }),
        );
      const listeners = async () =>
        Number(
          (
            await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [
              `deputy-listen:${schema}`,
            ])
          ).rows[0]?.n,
        );
      try {
        await waitFor(() => calls === 1); // connected (and told to read once)
        await append(other.store);
        await new Promise((r) => setTimeout(r, 300));
        expect(calls).toBe(1); // another schema's revocation is not ours
        await append(store);
        await waitFor(() => calls === 2);
        // Kill this watcher's LISTEN connection (named after its schema).
        expect(await listeners()).toBe(1);
        await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
          [`deputy-listen:${schema}`],
        );
        await waitFor(() => calls >= 3); // reconnected: reads once more
        const after = calls;
        await append(store);
        await waitFor(() => calls > after);
        expect(await listeners()).toBe(1);
      } finally {
        await stop();
        await admin.end();
        await other.cleanup();
        await cleanup();
      }
    });

    it("parses BIGINT as number on its own pool only", async () => {
      const { store, cleanup } = await createPostgresTestStore(PG_URL);
      try {
        expect(typeof (await store.tokens.nextStatusIndex())).toBe("number");
        expect(pg.types.getTypeParser(20, "text")("9007199254740993")).toBe("9007199254740993");
      } finally {
        await cleanup();
      }
    });
  });
} else {
  describe.skip(`PostgreSQL store (skipped: ${PG_URL} unreachable; set CI or DEPUTY_TEST_DATABASE_URL to require it)`, () => {
    it("conformance", () => undefined);
  });
}
