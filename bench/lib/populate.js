/**
 * Populated SQLite databases for the scale benchmark: N agents (each with one Ed25519 key and one
 * grant on the bench resource) under N/10 principals, written with raw better-sqlite3 inserts
 * into the schema that Deputy's own migrations created. Rows are what the Store would write
 * (same JSON shapes, real public keys and RFC 7638 kids, valid ids); `PRAGMA foreign_key_check`
 * runs before a database is accepted. Ids are generated first and inserted in sorted order, so
 * every b-tree is filled by appends.
 *
 * Agent keys come from a pool of 4,096 seeded keys (agent k has key k mod 4096), so a benchmark
 * can sign for any agent it samples without storing a million private keys.
 *
 * Populating 1,000,000 agents takes about a minute, so the result is cached in bench/results/cache/,
 * keyed by N, this file's format version and a hash of the migrated schema: a migration that
 * changes the schema invalidates the cache by itself.
 *
 * @example
 * const db = await populatedDatabase({ agents: 1_000_000, log: console.log });
 * const sample = agentSampler(db.path); // sample() → { id, key }
 */
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { BENCH_RESOURCE, seededKey } from "./agents.js";
import { CACHE_DIR, protocolModule, requireFromServer, serverModule } from "./paths.js";

/** Bump when the rows written here change. */
const FORMAT_VERSION = 1;
const KEY_POOL = 4096;
const BATCH = 50_000;

let pool;
/** The pool of agent keys, by kid. */
export function keyPool() {
  if (!pool) {
    pool = new Map();
    for (let i = 0; i < KEY_POOL; i++) {
      const key = seededKey(`scale-${i}`);
      pool.set(key.kid, key);
    }
  }
  return pool;
}

/** Returns the cached database for `agents` agents, populating it first if needed. */
export async function populatedDatabase({ agents, log = () => {} }) {
  const Database = requireFromServer("better-sqlite3");
  const { openStore } = await import(serverModule("store/open.js"));
  const work = mkdtempSync(join(tmpdir(), "deputy-bench-populate-"));
  const path = join(work, "deputy.db");
  try {
    const store = await openStore({ url: `sqlite:${path}` });
    await store.close();
    const schemaHash = hashSchema(new Database(path, { readonly: true }));
    mkdirSync(CACHE_DIR, { recursive: true });
    const stem = `scale-${agents}-v${FORMAT_VERSION}-${schemaHash}`;
    const cached = join(CACHE_DIR, `${stem}.db`);
    const metaPath = join(CACHE_DIR, `${stem}.json`);
    if (existsSync(cached) && existsSync(metaPath)) {
      const meta = JSON.parse(readFileSync(metaPath, "utf8"));
      log(
        `    ${agents.toLocaleString("en-US")} agents: cached ${cached} (populated in ${meta.populate_seconds} s)`,
      );
      return { ...meta, path: cached, cached: true };
    }
    // A stale database for an older schema or format only wastes disk.
    for (const f of readdirSync(CACHE_DIR)) {
      if (f.startsWith(`scale-${agents}-`) && !f.startsWith(stem))
        rmSync(join(CACHE_DIR, f), { force: true });
    }
    log(`    ${agents.toLocaleString("en-US")} agents: populating (once; cached afterwards)…`);
    const t0 = performance.now();
    const counts = await populate(new Database(path), agents, log);
    const meta = {
      ...counts,
      format_version: FORMAT_VERSION,
      schema_hash: schemaHash,
      bytes: statSync(path).size,
      populate_seconds: Math.round((performance.now() - t0) / 100) / 10,
      created: new Date().toISOString(),
    };
    try {
      renameSync(path, cached);
    } catch {
      copyFileSync(path, cached);
    }
    writeFileSync(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
    log(`    populated in ${meta.populate_seconds} s: ${(meta.bytes / 2 ** 20).toFixed(1)} MB`);
    return { ...meta, path: cached, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function hashSchema(db) {
  try {
    const objects = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all();
    const versions = db.prepare("SELECT version FROM schema_migrations ORDER BY version").all();
    return createHash("sha256").update(JSON.stringify({ objects, versions })).digest("hex").slice(0, 12);
  } finally {
    db.close();
  }
}

async function populate(db, agents, log) {
  const { newId } = await import(protocolModule("ids.js"));
  const { hashSecret, newSecret } = await import(serverModule("crypto/secrets.js"));
  const keys = [...keyPool().values()];
  const principals = Math.max(1, Math.floor(agents / 10));
  const sortedIds = (prefix, n) => Array.from({ length: n }, () => newId(prefix)).sort();
  const principalIds = sortedIds("prn", principals);
  const agentIds = sortedIds("agt", agents);
  const grantIds = sortedIds("grt", agents);
  const base = Date.now() - agents - 1000;
  const grantExpiry = Date.UTC(2100, 0, 1);
  const jwks = keys.map((k) => JSON.stringify({ ...k.publicJwk, kid: k.kid, alg: "EdDSA" }));
  try {
    // A bulk load into a file nobody else has open: no journal, no fsync, a large page cache.
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -1048576");
    db.pragma("foreign_keys = OFF");
    const insert = {
      resource: db.prepare(
        "INSERT INTO resources (id, audience, name, secret_hash, allow_bearer, builtin, created_at) VALUES (?, ?, ?, ?, 0, 0, ?)",
      ),
      principal: db.prepare(
        "INSERT INTO principals (id, type, name, email, status, created_at, disabled_at) VALUES (?, 'service', ?, NULL, 'active', ?, NULL)",
      ),
      agent: db.prepare(
        `INSERT INTO agents (id, principal_id, parent_id, chain, name, description, status, provenance, created_at, revoked_at, revoke_reason)
         VALUES (?, ?, NULL, '[]', ?, NULL, 'active', NULL, ?, NULL, NULL)`,
      ),
      key: db.prepare(
        "INSERT INTO agent_keys (agent_id, kid, jwk, alg, created_at, removed_at) VALUES (?, ?, ?, 'EdDSA', ?, NULL)",
      ),
      grant: db.prepare(
        `INSERT INTO grants (id, agent_id, principal_id, parent_grant_id, scopes, resources, expires_at, max_delegation_depth,
           constraints, tokens_issued, status, created_at, revoked_at)
         VALUES (?, ?, ?, NULL, '["read","write"]', ?, ?, 1, '{}', 0, 'active', ?, NULL)`,
      ),
    };
    const resources = JSON.stringify([BENCH_RESOURCE]);
    db.transaction(() => {
      insert.resource.run(newId("res"), BENCH_RESOURCE, "Bench API", hashSecret(newSecret("drs")), base);
      for (let j = 0; j < principals; j++) insert.principal.run(principalIds[j], `principal-${j}`, base);
    })();
    for (let from = 0; from < agents; from += BATCH) {
      db.transaction(() => {
        for (let k = from; k < Math.min(agents, from + BATCH); k++) {
          const at = base + k;
          // Principal ids are sorted too, so (principal_id, created_at, id) also fills by appends.
          const principal = principalIds[Math.floor((k * principals) / agents)];
          const key = k % keys.length;
          insert.agent.run(agentIds[k], principal, `agent-${k}`, at);
          insert.key.run(agentIds[k], keys[key].kid, jwks[key], at);
          insert.grant.run(grantIds[k], agentIds[k], principal, resources, grantExpiry, at);
        }
      })();
      if ((from / BATCH) % 4 === 3) log(`      ${(from + BATCH).toLocaleString("en-US")} agents`);
    }
    const broken = db.prepare("PRAGMA foreign_key_check").all();
    if (broken.length > 0)
      throw new Error(`populated rows break foreign keys: ${JSON.stringify(broken.slice(0, 3))}`);
    db.pragma("journal_mode = WAL");
    return { agents, grants: agents, principals };
  } finally {
    db.close();
  }
}

/**
 * Picks agents uniformly over the whole table of a populated database (by rowid, which is the
 * insertion order), with the private key to sign for each.
 */
export function agentSampler(path) {
  const Database = requireFromServer("better-sqlite3");
  const db = new Database(path, { readonly: true });
  const keys = keyPool();
  const max = db.prepare("SELECT MAX(rowid) AS n FROM agents").get().n;
  const byRow = db.prepare(
    "SELECT a.id AS id, k.kid AS kid FROM agents a JOIN agent_keys k ON k.agent_id = a.id WHERE a.rowid = ?",
  );
  return {
    size: max,
    sample() {
      const row = byRow.get(1 + Math.floor(Math.random() * max));
      return { id: row.id, key: keys.get(row.kid) };
    },
    close: () => db.close(),
  };
}
