/**
 * A Kysely dialect for better-sqlite3 tuned for Deputy: transactions start with `BEGIN IMMEDIATE`
 * (so a transaction waits for the write lock up front instead of failing with SQLITE_BUSY when a
 * read transaction upgrades), prepared statements are cached by SQL text, and booleans are bound
 * as 0/1.
 *
 * Waiting for another process's lock (`deputy serve --workers N` shares one database file) is
 * asynchronous: the connection runs with `busy_timeout = 0` and a statement that meets SQLITE_BUSY
 * is retried from the event loop ({@link whenNotBusy}) until {@link SQLITE_BUSY_WAIT_MS} have
 * passed. SQLite's own busy handler sleeps inside the call, freezing the whole event loop of the
 * waiting worker for 1–100 ms at a time; with two workers that froze each of them on most commits.
 *
 * @example
 * const db = new Kysely<Database>({ dialect: new DeputySqliteDialect(new BetterSqlite3(path)) });
 */
import type BetterSqlite3 from "better-sqlite3";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";

/** Distinct SQL texts kept prepared; IN-lists of varying length are the only unbounded source. */
const STATEMENT_CACHE_SIZE = 512;

/** How long a statement waits for another connection's lock before SQLITE_BUSY is thrown. */
export const SQLITE_BUSY_WAIT_MS = 5000;

/** Kysely dialect over one better-sqlite3 connection (see module docs). */
export class DeputySqliteDialect implements Dialect {
  /**
   * @param database opened with `busy_timeout = 0` (openSqliteStore sets it after migrating), so
   *   lock waits happen here, off the call stack, instead of inside SQLite.
   * @param busyWaitMs how long a statement keeps retrying SQLITE_BUSY (tests shorten it).
   * @param beforeClose awaited before the connection closes (the WAL checkpointer's stop).
   */
  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly busyWaitMs = SQLITE_BUSY_WAIT_MS,
    private readonly beforeClose: () => Promise<void> = () => Promise.resolve(),
  ) {}

  createDriver(): Driver {
    return new SqliteDriver(this.database, this.busyWaitMs, this.beforeClose);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's introspector is typed for any DB.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

class SqliteDriver implements Driver {
  readonly #mutex = new Mutex();
  readonly #connection: SqliteConnection;

  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly busyWaitMs: number,
    private readonly beforeClose: () => Promise<void>,
  ) {
    this.#connection = new SqliteConnection(database, busyWaitMs);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    // One connection shared by all callers: a transaction holds it from BEGIN to COMMIT.
    await this.#mutex.lock();
    return this.#connection;
  }

  async beginTransaction(): Promise<void> {
    await whenNotBusy(() => this.database.exec("BEGIN IMMEDIATE"), this.busyWaitMs);
  }

  async commitTransaction(): Promise<void> {
    // A COMMIT that meets SQLITE_BUSY leaves the transaction open and may be retried (SQLite docs,
    // "COMMIT"); in WAL mode with BEGIN IMMEDIATE that only happens around a checkpoint.
    await whenNotBusy(() => this.database.exec("COMMIT"), this.busyWaitMs);
  }

  async rollbackTransaction(): Promise<void> {
    // Some errors (SQLITE_FULL, SQLITE_IOERR, …) already rolled the transaction back.
    if (this.database.inTransaction) this.database.exec("ROLLBACK");
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    await this.beforeClose();
    this.database.close();
  }
}

class SqliteConnection implements DatabaseConnection {
  readonly #statements = new Map<string, BetterSqlite3.Statement>();

  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly busyWaitMs: number,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const run = (): QueryResult<R> => {
      const statement = this.#prepare(query.sql);
      const params = bindable(query.parameters);
      if (statement.reader) return { rows: statement.all(params) as R[] };
      const { changes, lastInsertRowid } = statement.run(params);
      return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
    };
    // Outside a transaction, a statement that failed with SQLITE_BUSY did nothing and can be run
    // again as it is. Inside one (BEGIN IMMEDIATE holds the write lock, so in WAL mode this does
    // not happen) SQLite says to roll back rather than retry: the error goes to the caller.
    if (this.database.inTransaction) return run();
    return whenNotBusy(run, this.busyWaitMs);
  }

  // biome-ignore lint/correctness/useYield: streaming is not supported; the generator only throws.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("streaming is not supported by the Deputy SQLite dialect");
  }

  #prepare(sql: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(sql);
    if (statement) return statement;
    statement = this.database.prepare(sql);
    if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
      const oldest = this.#statements.keys().next();
      if (!oldest.done) this.#statements.delete(oldest.value);
    }
    this.#statements.set(sql, statement);
    return statement;
  }
}

/** SQLITE_BUSY and SQLITE_BUSY_RECOVERY: the statement did not run and may be retried as is. */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_BUSY" || code === "SQLITE_BUSY_RECOVERY";
}

/**
 * Runs `run` now; while it fails with SQLITE_BUSY, runs it again from the event loop (the first
 * retries on the next turns, so requests keep being parsed and join the waiting group commit; then
 * every millisecond) until `waitMs` have passed, after which the SQLITE_BUSY error is thrown.
 */
export async function whenNotBusy<T>(run: () => T, waitMs: number): Promise<T> {
  try {
    return run();
  } catch (error) {
    if (!isBusy(error)) throw error;
  }
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    // A failed attempt costs a few microseconds, and other processes hold the lock for well under
    // a millisecond per commit: polling every millisecond wastes nothing and waits little.
    await (attempt <= 4 ? new Promise<void>((r) => setImmediate(r)) : sleep(1));
    try {
      return run();
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bindable(parameters: readonly unknown[]): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < parameters.length; i++) {
    const v = parameters[i];
    if (typeof v === "boolean") {
      out ??= [...parameters];
      out[i] = v ? 1 : 0;
    }
  }
  return out ?? (parameters as unknown[]);
}

/** FIFO async mutex. */
class Mutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    // Ownership passes directly to the next waiter, so the lock is never observed free in between.
    if (next) next();
    else this.#locked = false;
  }
}
