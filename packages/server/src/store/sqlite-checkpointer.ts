/**
 * WAL checkpoints off the event loop for the embedded SQLite store.
 *
 * SQLite copies the WAL back into the database file (a checkpoint) inside the COMMIT that takes
 * the WAL past `wal_autocheckpoint` pages, and better-sqlite3 runs that COMMIT on the event loop:
 * every ~40 MB of WAL, a request waited 230–250 ms while 10,000 pages were copied and fsynced
 * (measured with `bench/tools/append-loop.js`: event-loop delay max 228–247 ms; 26–28 ms with
 * the checkpoints moved out). Lowering the threshold trades that for a 30–40 ms pause every 4 MB,
 * which lands in the 99th percentile instead.
 *
 * So, when enabled (`sqliteCheckpointThread`, off by default: the thread costs about 16 MB while
 * it runs, and the embedded default favours a small footprint), once the WAL has grown past
 * {@link CHECKPOINTER_DEFAULTS.startAtBytes} (an idle or lightly used server never gets there), a worker
 * thread with its own connection runs `PRAGMA wal_checkpoint(PASSIVE)` every
 * {@link CHECKPOINTER_DEFAULTS.intervalMs}. A passive checkpoint never waits for or blocks
 * readers and writers (SQLite docs, "wal_checkpoint"); the next write restarts the WAL from its
 * start once it is all copied. The connection's own automatic checkpoint stays as a backstop at
 * {@link BACKSTOP_PAGES} pages, and returns to its usual threshold if the thread fails, or when
 * it ends itself after {@link CHECKPOINTER_DEFAULTS.idleMs} without writes (a server back at rest
 * gives its memory back; the next time the WAL grows past the threshold, the thread starts again).
 *
 * @example
 * const checkpointer = new WalCheckpointer("/var/lib/deputy/deputy.db", raw);
 * …
 * await checkpointer.stop(); // before raw.close()
 */

import { statSync } from "node:fs";
import { createRequire } from "node:module";
import type { Worker } from "node:worker_threads";
import type BetterSqlite3 from "better-sqlite3";

export interface CheckpointerOptions {
  /** WAL size (bytes) from which checkpoints move to the worker thread. */
  startAtBytes: number;
  /** How often the worker checkpoints, and the WAL's size is looked at until then (ms). */
  intervalMs: number;
  /** The thread ends once nothing has been written for this long (ms); the WAL restarts it. */
  idleMs: number;
}

export const CHECKPOINTER_DEFAULTS: CheckpointerOptions = {
  startAtBytes: 32 * 1024 * 1024,
  intervalMs: 250,
  idleMs: 1000,
};

/** The connection's automatic checkpoint while the thread runs: only if the thread falls behind. */
export const BACKSTOP_PAGES = 100_000;

/** The connection's automatic checkpoint otherwise (~40 MB of WAL). */
export const AUTOCHECKPOINT_PAGES = 10_000;

// CommonJS run by the worker (`eval`), so the same code serves the built server and the tests
// (which run the TypeScript sources, where no compiled worker file exists).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma("busy_timeout = 0");
db.pragma("cache_size = -256");
let last = -1;
let quietSince = Date.now();
const timer = setInterval(() => {
  const [result] = db.pragma("wal_checkpoint(PASSIVE)");
  // No new frame since the last look (the WAL's frame count only changes when something is written).
  if (result.log !== last) {
    last = result.log;
    quietSince = Date.now();
  } else if (result.checkpointed === result.log && Date.now() - quietSince >= workerData.idleMs) {
    // Everything is copied back and nothing is being written: empty the WAL file, so the thread
    // starts again only once the WAL has grown past the threshold anew (a WAL file keeps its size
    // when it is reused). Without waiting: a reader in the way only leaves the file as it is.
    db.pragma("wal_checkpoint(TRUNCATE)");
    stop("idle");
  }
}, workerData.intervalMs);
function stop(reason) {
  clearInterval(timer);
  db.close();
  parentPort.postMessage(reason);
  parentPort.close();
}
parentPort.on("message", (message) => {
  if (message === "stop") stop("stopped");
});
`;

export class WalCheckpointer {
  readonly #options: CheckpointerOptions;
  readonly #watch: NodeJS.Timeout;
  #worker: Worker | null = null;
  #starting = false;
  #exited: Promise<void> | null = null;
  #stopping = false;
  #failed = false;

  constructor(
    private readonly path: string,
    private readonly connection: BetterSqlite3.Database,
    options: Partial<CheckpointerOptions> = {},
    /** Told when the thread fails (it is not started again; the connection checkpoints itself). */
    private readonly onError: (error: Error) => void = () => {},
  ) {
    this.#options = { ...CHECKPOINTER_DEFAULTS, ...options };
    this.#watch = setInterval(() => this.#look(), this.#options.intervalMs);
    this.#watch.unref();
  }

  /** Whether the worker thread is checkpointing. */
  get running(): boolean {
    return this.#worker !== null;
  }

  /** Stops the thread (waiting for a checkpoint in progress); call before closing the connection. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watch);
    if (!this.#worker) return;
    this.#worker.postMessage("stop");
    await this.#exited;
  }

  #look(): void {
    if (this.#worker || this.#starting || this.#failed || this.#stopping) return;
    let size: number;
    try {
      size = statSync(`${this.path}-wal`).size;
    } catch {
      return; // no WAL file yet
    }
    if (size < this.#options.startAtBytes) return;
    this.#starting = true;
    // Loaded only now: a server that never needs the thread does not pay for the module either.
    void import("node:worker_threads").then(
      ({ Worker }) => {
        this.#starting = false;
        if (!this.#stopping) this.#start(Worker);
      },
      (error: unknown) => {
        this.#starting = false;
        this.#failed = true;
        this.onError(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  #start(WorkerClass: typeof Worker): void {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new WorkerClass(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path: this.path,
        intervalMs: this.#options.intervalMs,
        idleMs: this.#options.idleMs,
        driver,
      },
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    worker.unref();
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once("exit", () => resolve()));
    this.connection.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    const fail = (error: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      if (this.#stopping) return;
      // The thread is gone: the connection checkpoints on its own again.
      this.#failed = true;
      if (this.connection.open) this.connection.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      this.onError(error);
    };
    let idle = false;
    worker.on("message", (message) => {
      idle = message === "idle";
    });
    worker.once("error", fail);
    worker.once("exit", (code) => {
      if (!idle) return fail(new Error(`the SQLite checkpoint thread exited (code ${code})`));
      // Nothing written for a while: the thread ended to give its memory back. The connection
      // checkpoints on its own again until the WAL grows past the threshold once more.
      if (this.#worker !== worker) return;
      this.#worker = null;
      if (this.connection.open && !this.#stopping) {
        this.connection.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      }
    });
  }
}
