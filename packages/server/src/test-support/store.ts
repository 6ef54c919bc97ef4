/**
 * Throw-away stores for tests: PostgreSQL in a fresh schema when `DEPUTY_TEST_DATABASE_URL` is
 * set, else SQLite in a fresh temp directory. `cleanup()` closes the store and deletes the data.
 *
 * @example
 * const { store, cleanup } = await createTestStore();
 * try { await store.principals.create(p); } finally { await cleanup(); }
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Store } from "../store/index.js";
import { openStore } from "../store/open.js";

export interface TestStore {
  store: Store;
  cleanup(): Promise<void>;
  /** The URL the store was opened with (`sqlite:<path>` or the PostgreSQL URL). */
  url: string;
  /** PostgreSQL only: the schema holding this store's tables. */
  schema?: string;
}

/** Which database {@link createTestStore} uses in this environment. */
export function storeKind(): "sqlite" | "postgres" {
  return process.env.DEPUTY_TEST_DATABASE_URL ? "postgres" : "sqlite";
}

/** Opens a fresh, migrated store; see the module docs. */
export async function createTestStore(): Promise<TestStore> {
  const pgUrl = process.env.DEPUTY_TEST_DATABASE_URL;
  return pgUrl ? createPostgresTestStore(pgUrl) : createSqliteTestStore();
}

/** A fresh SQLite store in its own temp directory. */
export async function createSqliteTestStore(): Promise<TestStore> {
  const dir = await mkdtemp(join(tmpdir(), "deputy-store-"));
  const url = `sqlite:${join(dir, "deputy.db")}`;
  try {
    const store = await openStore({ url });
    return {
      store,
      url,
      async cleanup() {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A fresh PostgreSQL store in a unique schema `t_<random>`, dropped by `cleanup()`. */
export async function createPostgresTestStore(url: string): Promise<TestStore> {
  const schema = uniqueSchemaName();
  try {
    const store = await openStore({ url, schema });
    return {
      store,
      url,
      schema,
      async cleanup() {
        await store.close();
        await dropSchema(url, schema);
      },
    };
  } catch (err) {
    await dropSchema(url, schema).catch(() => undefined);
    throw err;
  }
}

/** A random schema name for an isolated PostgreSQL test database. */
export function uniqueSchemaName(): string {
  return `t_${randomBytes(8).toString("hex")}`;
}

/** Drops a test schema and everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^t_[a-z0-9_]+$/.test(schema)) throw new Error(`refusing to drop non-test schema ${schema}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
