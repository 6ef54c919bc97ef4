/**
 * The audit ledger: the integrator loop that keeps the Merkle tree and its signed checkpoints up
 * with the audit log, off the request path (like Trillian Tessera and Sunlight, which sequence in
 * batches). Requests only append entries (`Audit.record`, inside their own transaction); the
 * ledger integrates everything appended since the last run at most every
 * {@link LEDGER_DEFAULTS.intervalMs}, and sooner when an append nudges it, so a new checkpoint is
 * published well within a second of the newest entry.
 *
 * Several processes may run integrators on one database (cluster workers, PostgreSQL replicas):
 * each step locks the tree state row and writes only if the tree is where it read it, so the tree
 * moves exactly once per size and a loser just reloads.
 *
 * @example
 * const ledger = await AuditLedger.open({ store, clock, log, masterKeys, issuer });
 * ledger.follow(audit);
 * ledger.start();
 * …
 * await ledger.stop();
 */

import type { CompactRange } from "@deputy/protocol";
import { formatCheckpoint, type SyncMerkleHasher, signNote } from "@deputy/protocol";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { MasterKeyRing } from "../crypto/master-key-ring.js";
import type { AuditCheckpointRecord, Store } from "../store/index.js";
import { INDEX_EVERY, integrateStep, TreeIntegrityError } from "./integrate.js";
import { LeafCache } from "./leaf-cache.js";
import { type LogKey, openLogKey } from "./log-key.js";
import type { Audit } from "./record.js";

export const LEDGER_DEFAULTS = {
  /** Longest pause between two integration runs (ms). */
  intervalMs: 250,
  /** Shortest time between the starts of two runs (ms): nudges under load batch into one run. */
  minSpacingMs: 100,
  /** How long a nudge waits, so that a burst of appends shares one run (ms). */
  nudgeDelayMs: 20,
  /** Most entries one run integrates: one read of that many entries, one transaction. */
  batchSize: 10_000,
  /** Integrated entries that wait for the key index (audit_entry_ids) before a run writes it (integrate.ts). */
  indexEvery: INDEX_EVERY,
} as const;

export interface LedgerOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  masterKeys: MasterKeyRing;
  issuer: string;
  intervalMs?: number;
  minSpacingMs?: number;
  nudgeDelayMs?: number;
  batchSize?: number;
  indexEvery?: number;
}

export class AuditLedger {
  #range: CompactRange<SyncMerkleHasher> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #dueAt = Number.POSITIVE_INFINITY;
  #running: Promise<void> | null = null;
  #started = false;
  #lastRunAt = 0;
  #warned = "";
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #settings: typeof LEDGER_DEFAULTS;
  readonly #leaves: LeafCache;

  private constructor(
    readonly key: LogKey,
    options: LedgerOptions,
  ) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#settings = {
      intervalMs: options.intervalMs ?? LEDGER_DEFAULTS.intervalMs,
      minSpacingMs: options.minSpacingMs ?? LEDGER_DEFAULTS.minSpacingMs,
      nudgeDelayMs: options.nudgeDelayMs ?? LEDGER_DEFAULTS.nudgeDelayMs,
      batchSize: options.batchSize ?? LEDGER_DEFAULTS.batchSize,
      indexEvery: options.indexEvery ?? LEDGER_DEFAULTS.indexEvery,
    } as typeof LEDGER_DEFAULTS;
    // Room for two full runs' worth of entries: a backlog beyond that is read from the store.
    this.#leaves = new LeafCache(2 * this.#settings.batchSize);
  }

  /**
   * Loads (or creates) the log key and makes sure a signed checkpoint exists for the tree as it
   * stands (the empty tree on a new database), so the checkpoint endpoint always has an answer.
   * Does not start the integrator: call {@link AuditLedger.start}.
   */
  static async open(options: LedgerOptions): Promise<AuditLedger> {
    const key = await openLogKey(options.store, options.masterKeys, options.issuer, options.clock);
    const ledger = new AuditLedger(key, options);
    const [state, latest] = await Promise.all([
      options.store.auditTree.state(),
      options.store.auditTree.latestCheckpoint(),
    ]);
    if (!latest || latest.size < state.size) {
      const note = await signNote(
        formatCheckpoint({ origin: key.origin, size: state.size, rootHash: state.rootHash }),
        key.signer,
      );
      await options.store.auditTree.addCheckpoint({
        size: state.size,
        rootHash: state.rootHash,
        note,
        createdAt: options.clock.now(),
      });
    }
    return ledger;
  }

  /** The log's origin, which is also its key name. */
  get origin(): string {
    return this.key.origin;
  }

  /** `audit_log_public_key`: the C2SP verifier key string. */
  get verifierKey(): string {
    return this.key.verifierKey;
  }

  /** The newest signed checkpoint in the store (written by any process's integrator). */
  async latestCheckpoint(): Promise<AuditCheckpointRecord> {
    const latest = await this.#store.auditTree.latestCheckpoint();
    if (!latest) throw new Error("no audit checkpoint: the ledger was not opened on this store");
    return latest;
  }

  /** Starts the integrator loop (idempotent). Its timers never keep the process alive. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule(0);
  }

  /** Stops the loop and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#dueAt = Number.POSITIVE_INFINITY;
    await this.#running;
  }

  /**
   * Follows `audit`'s appends: each one nudges the integrator, and committed standalone entries
   * are offered to {@link offer}.
   */
  follow(audit: Audit): void {
    audit.onAppend = () => this.nudge();
    audit.onCommitted = (indexes, entries) => this.offer(indexes, entries);
  }

  /**
   * Committed entries this process appended (`Audit.onCommitted`): their leaf hashes are kept
   * until integrated, so the integrator does not read them back (audit/leaf-cache.ts).
   */
  offer(indexes: readonly number[], entries: readonly string[]): void {
    if (this.#started) this.#leaves.offer(indexes, entries);
  }

  /** Called after an append: brings the next run forward (a cheap no-op when one is due anyway). */
  nudge(): void {
    if (!this.#started) return;
    const spacing = this.#lastRunAt + this.#settings.minSpacingMs - Date.now();
    this.#schedule(Math.max(this.#settings.nudgeDelayMs, spacing));
  }

  /**
   * Integrates until the tree has caught up with the log as it was when called (or the log
   * stalls), then resolves with the integrated size. Runs alongside the loop safely.
   */
  async integrate(): Promise<number> {
    for (;;) {
      const step = await this.#runOnce();
      if (step.done) return step.size;
    }
  }

  #schedule(delayMs: number): void {
    if (!this.#started) return;
    const at = Date.now() + delayMs;
    if (this.#timer && this.#dueAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#dueAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#dueAt = Number.POSITIVE_INFINITY;
      void this.#tick();
    }, delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let again = false;
    try {
      again = !(await this.#runOnce()).done;
    } catch (err) {
      this.#warnOnce(
        err instanceof TreeIntegrityError ? `tree:${err.message}` : "error",
        { err },
        "audit ledger integration failed; retrying",
      );
    }
    this.#schedule(again ? 0 : this.#settings.intervalMs);
  }

  /** One step, never two at once in this process. */
  async #runOnce(): Promise<{ done: boolean; size: number }> {
    while (this.#running) await this.#running;
    let result = { done: true, size: 0 };
    const run = (async () => {
      this.#lastRunAt = Date.now();
      const step = await integrateStep(this.#store, {
        range: this.#range,
        key: this.key,
        clock: this.#clock,
        batchSize: this.#settings.batchSize,
        indexEvery: this.#settings.indexEvery,
        leaves: this.#leaves,
      });
      if (step.kind !== "stalled") this.#leaves.forgetBelow(step.size);
      switch (step.kind) {
        case "integrated":
          this.#range = step.range;
          this.#warned = "";
          result = { done: step.backlog === 0, size: step.size };
          break;
        case "lost-race":
          this.#range = null;
          result = { done: false, size: step.size };
          break;
        case "stalled":
          this.#warnOnce(
            `stalled:${step.size}:${step.logSize}`,
            { treeSize: step.size, logSize: step.logSize },
            "audit log has fewer entries than the tree, or a hole: integration stopped (was it tampered with?)",
          );
          result = { done: true, size: step.size };
          break;
        case "idle":
          result = { done: true, size: step.size };
      }
    })();
    this.#running = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      await run;
    } finally {
      this.#running = null;
    }
    return result;
  }

  #warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#warned === key) return;
    this.#warned = key;
    this.#log.error(fields, message);
  }
}
