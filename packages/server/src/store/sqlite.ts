/**
 * Embedded SQLite store (the default).
 *
 * Durability: WAL with `synchronous = NORMAL` ("normal", the default) never loses a committed
 * transaction when the process crashes or is killed (kill -9): the WAL is in the OS page cache.
 * Only an OS crash or power loss can drop the last transactions; `durability: "full"`
 * (`synchronous = FULL`) fsyncs the WAL on every commit to cover that too, at a throughput cost.
 *
 * @example
 * const store = await openSqliteStore({ path: ".deputy/deputy.db" });
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely } from "kysely";
import type { Store } from "./index.js";
import { migrate } from "./migrate.js";
import type { Database } from "./schema.js";
import { TokenCache } from "./sql/token-cache.js";
import { SqlStore } from "./sql-store.js";
import { AUTOCHECKPOINT_PAGES, type CheckpointerOptions, WalCheckpointer } from "./sqlite-checkpointer.js";
import { DeputySqliteDialect, SQLITE_BUSY_WAIT_MS } from "./sqlite-dialect.js";

/** "normal": durable against process crash (default); "full": also against OS crash / power loss. */
export type Durability = "normal" | "full";

export interface SqliteStoreOptions {
  /** Database file (its directory is created), or ":memory:". */
  path: string;
  durability?: Durability | undefined;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean | undefined;
  /** How long a statement waits for another process's lock (default {@link SQLITE_BUSY_WAIT_MS}). */
  busyWaitMs?: number | undefined;
  /** WAL checkpoints in a worker thread once the WAL grows (sqlite-checkpointer.ts); default off. */
  checkpointer?: Partial<CheckpointerOptions> | false | undefined;
  /** Told when the checkpoint thread fails; the connection then checkpoints on its own again. */
  onCheckpointerError?: ((error: Error) => void) | undefined;
}

/** Opens (and by default migrates) a SQLite database; see the module docs for durability. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const { path } = options;
  if (path !== ":memory:" && path !== "") mkdirSync(dirname(path), { recursive: true });
  const raw = new BetterSqlite3(path);
  try {
    // busy_timeout first: switching to WAL itself needs a lock another process may hold.
    raw.pragma("busy_timeout = 5000");
    // WAL is what lets readers and the one writer proceed together, and what the lock handling in
    // the dialect assumes; a filesystem that cannot give it is refused rather than half supported.
    const mode = raw.pragma("journal_mode = WAL", { simple: true });
    if (path !== ":memory:" && path !== "" && mode !== "wal") {
      throw new Error(
        `SQLite could not switch ${path} to WAL mode (it is in ${String(mode)} mode): put the data directory on a local filesystem`,
      );
    }
    raw.pragma(`synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
    raw.pragma("foreign_keys = ON");
    raw.pragma("cache_size = -32000");
    // Reads of a large database (a million agents is ~1 GB) go through the page cache of the OS
    // instead of copying every page into SQLite's own cache: fewer syscalls on the token path.
    raw.pragma("mmap_size = 1073741824");
    // Checkpoints fsync even with synchronous=NORMAL: checkpointing every ~40 MB of WAL instead of
    // every 4 MB cuts that cost tenfold and copies hot pages back once instead of many times (with
    // `checkpointer`, a worker thread takes them off the event loop once the WAL grows)…
    raw.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    // …and the WAL file is truncated after a checkpoint rather than staying at its peak size.
    raw.pragma("journal_size_limit = 67108864");
  } catch (err) {
    raw.close();
    throw err;
  }
  const file = path !== ":memory:" && path !== "";
  const checkpointer =
    file && options.checkpointer !== false
      ? new WalCheckpointer(raw.name, raw, options.checkpointer || {}, options.onCheckpointerError)
      : null;
  const db = new Kysely<Database>({
    dialect: new DeputySqliteDialect(raw, options.busyWaitMs ?? SQLITE_BUSY_WAIT_MS, () =>
      checkpointer ? checkpointer.stop() : Promise.resolve(),
    ),
  });
  try {
    if (options.migrate !== false) await migrate(db, "sqlite");
    // From here on, lock waits are the dialect's (asynchronous, see DeputySqliteDialect): SQLite's
    // own busy handler would sleep inside the call and freeze this process's event loop.
    raw.pragma("busy_timeout = 0");
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqlStore(db, "sqlite", undefined, tokenCache(raw));
}

/**
 * Token records held in memory while current (store/sql/token-cache.ts), checked against the
 * version that migration 010's triggers keep; none on a database migrated by an older Deputy.
 */
function tokenCache(raw: BetterSqlite3.Database): TokenCache | undefined {
  let statement: BetterSqlite3.Statement;
  try {
    statement = raw.prepare("SELECT version FROM token_state_version WHERE id = 1").pluck();
  } catch {
    return undefined;
  }
  return new TokenCache(() => {
    const version = statement.get();
    if (typeof version !== "number") throw new Error("no token state version");
    return version;
  });
}
