/**
 * PostgreSQL store over a `pg.Pool`. BIGINT (int8) columns are parsed as JS numbers by a
 * pool-local type parser (epoch ms and counters stay far below 2^53); the global `pg.types`
 * registry is left untouched.
 *
 * @example
 * const store = await openPostgresStore({ url: "postgres://deputy@db/deputy", schema: "deputy" });
 */
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from "kysely";
import pg from "pg";
import type { Store } from "./index.js";
import { migrate } from "./migrate.js";
import type { Database } from "./schema.js";
import { preparedName } from "./sql/prepared.js";
import { SqlStore } from "./sql-store.js";

export interface PostgresStoreOptions {
  /** `postgres://` or `postgresql://` connection URL. */
  url: string;
  /** Schema for all tables (created if missing); must match /^[a-z_][a-z0-9_]{0,62}$/. */
  schema?: string | undefined;
  /** Pool size (default 10). */
  max?: number | undefined;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean | undefined;
  /** Called when an idle pooled connection fails (default: ignored; the pool replaces it). */
  onError?: ((err: Error) => void) | undefined;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary"
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
};

/** Throws unless `schema` is a plain lower-case identifier (so it needs no quoting anywhere). */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${JSON.stringify(schema)}`);
}

/**
 * Creates a pg pool configured for Deputy: int8 parsed as number, and (with `schema`) every new
 * connection's `search_path` set to that schema alone. The SET runs in the pool's connect hook
 * rather than as a startup `options` parameter, which an `?options=` in the URL would override.
 */
export function createPool(
  url: string,
  schema?: string,
  max = 10,
  onError: (err: Error) => void = () => undefined,
): pg.Pool {
  if (schema !== undefined) assertSchemaName(schema);
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types: typeParsers,
    connectionTimeoutMillis: 10_000,
    ...(schema === undefined
      ? {}
      : {
          onConnect: async (client: pg.ClientBase) => {
            await client.query(`SET search_path TO "${schema}"`);
          },
        }),
  });
  // An idle client that loses its connection (server restart, network) is dropped by the pool and
  // replaced on the next checkout; without a listener the 'error' event would crash the process.
  pool.on("error", onError);
  return pool;
}

/** Opens (and by default migrates) a PostgreSQL database. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const pool = createPool(options.url, options.schema, options.max, options.onError);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: withPreparedStatements(pool) }) });
  try {
    if (options.schema !== undefined) await ensureSchema(pool, options.schema);
    if (options.migrate !== false) await migrate(db, "postgres");
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqlStore(db, "postgres", { url: options.url, schema: options.schema });
}

/**
 * The pool as Kysely sees it: a query whose text was registered with `prepared` (sql/prepared.ts)
 * goes out as a named statement, parsed and planned once per connection; any other as before.
 */
function withPreparedStatements(pool: pg.Pool): PostgresPool {
  // One wrapper per pooled client: Kysely keeps its per-connection state keyed by the client.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    const query = (textOrCursor: unknown, parameters?: ReadonlyArray<unknown>): unknown => {
      if (typeof textOrCursor !== "string") return client.query(textOrCursor as pg.Submittable);
      const name = preparedName(textOrCursor);
      const values = parameters as unknown[];
      return name === undefined
        ? client.query(textOrCursor, values)
        : client.query({ name, text: textOrCursor, values });
    };
    return { query, release: (destroy?: boolean) => client.release(destroy) } as PostgresPoolClient;
  };
  return {
    connect: async () => {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

async function ensureSchema(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    // Concurrent CREATE SCHEMA IF NOT EXISTS can still fail on the catalog's unique index; serialise it.
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext('deputy.schema.' || $1))", [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
