/**
 * Opens Deputy's store from configuration and migrates it.
 *
 * @example
 * await openStore({ url: "postgres://deputy@db:5432/deputy" }); // PostgreSQL
 * await openStore({ url: "sqlite:./data/deputy.db" });           // SQLite at that path
 * await openStore({ dataDir: "/var/lib/deputy" });               // SQLite at /var/lib/deputy/deputy.db
 */
import { join } from "node:path";
import type { Store } from "./index.js";
import { type Durability, openSqliteStore } from "./sqlite.js";

export type { Durability } from "./sqlite.js";

export interface OpenStoreOptions {
  /** `postgres://…` / `postgresql://…`, `sqlite:<path>`, or a plain file path. */
  url?: string | undefined;
  /** Used when `url` is absent: SQLite at `<dataDir>/deputy.db` (default `.deputy`). */
  dataDir?: string | undefined;
  /** PostgreSQL schema (ignored for SQLite). */
  schema?: string | undefined;
  /** SQLite durability (ignored for PostgreSQL). */
  durability?: Durability | undefined;
  /** SQLite: WAL checkpoints from a worker thread once the WAL grows (sqlite-checkpointer.ts). */
  checkpointThread?: boolean | undefined;
  /** SQLite: told when the checkpoint thread fails (the connection checkpoints on its own again). */
  onCheckpointerError?: ((error: Error) => void) | undefined;
}

/** Where {@link openStore} will put the data for these options. */
export function resolveStoreUrl(options: OpenStoreOptions): {
  kind: "sqlite" | "postgres";
  location: string;
} {
  const { url } = options;
  if (url !== undefined && /^postgres(ql)?:\/\//i.test(url)) return { kind: "postgres", location: url };
  if (url === undefined || url === "") {
    return { kind: "sqlite", location: join(options.dataDir ?? ".deputy", "deputy.db") };
  }
  if (url.startsWith("sqlite:")) {
    const rest = url.slice("sqlite:".length);
    // sqlite:///abs/path and sqlite://rel/path as well as sqlite:path
    return { kind: "sqlite", location: rest.startsWith("//") ? rest.slice(2) : rest };
  }
  return { kind: "sqlite", location: url };
}

/** Opens the configured store and applies pending migrations before returning it. */
export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const { kind, location } = resolveStoreUrl(options);
  if (kind === "postgres") {
    // Loaded only when used: the embedded SQLite default never pays for the pg driver's memory.
    const { openPostgresStore } = await import("./postgres.js");
    return openPostgresStore({ url: location, schema: options.schema });
  }
  return openSqliteStore({
    path: location,
    durability: options.durability,
    checkpointer: options.checkpointThread === true ? {} : false,
    onCheckpointerError: options.onCheckpointerError,
  });
}
