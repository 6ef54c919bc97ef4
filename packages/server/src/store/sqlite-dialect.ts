/**
 * A Kysely dialect for better-sqlite3 tuned for Deputy: transactions start with `BEGIN IMMEDIATE`
 * (so concurrent writers wait on `busy_timeout` instead of failing with SQLITE_BUSY when a
 * read transaction upgrades), prepared statements are cached by SQL text, and booleans are bound
 * as 0/1.
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

/** Kysely dialect over one better-sqlite3 connection (see module docs). */
export class DeputySqliteDialect implements Dialect {
  constructor(private readonly database: BetterSqlite3.Database) {}

  createDriver(): Driver {
    return new SqliteDriver(this.database);
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

  constructor(private readonly database: BetterSqlite3.Database) {
    this.#connection = new SqliteConnection(database);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    // One connection shared by all callers: a transaction holds it from BEGIN to COMMIT.
    await this.#mutex.lock();
    return this.#connection;
  }

  async beginTransaction(): Promise<void> {
    this.database.exec("BEGIN IMMEDIATE");
  }

  async commitTransaction(): Promise<void> {
    this.database.exec("COMMIT");
  }

  async rollbackTransaction(): Promise<void> {
    // Some errors (SQLITE_FULL, SQLITE_IOERR, …) already rolled the transaction back.
    if (this.database.inTransaction) this.database.exec("ROLLBACK");
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.database.close();
  }
}

class SqliteConnection implements DatabaseConnection {
  readonly #statements = new Map<string, BetterSqlite3.Statement>();

  constructor(private readonly database: BetterSqlite3.Database) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const statement = this.#prepare(query.sql);
    const params = bindable(query.parameters);
    if (statement.reader) return { rows: statement.all(params) as R[] };
    const { changes, lastInsertRowid } = statement.run(params);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
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
