/**
 * The revocation feed: one per process, the single reader of the revocation event log
 * (DESIGN §4). It delivers every event, in id order, exactly once, to its subscribers: the
 * process's {@link RevocationIndex}, the status-list cache and every `GET /v1/revocations/events`
 * stream. It reads the log after a revocation commits here, and when the store reports one made
 * elsewhere (PostgreSQL LISTEN/NOTIFY across replicas; a poll on SQLite for `serve --workers`).
 *
 * Why this cannot skip an event: the store numbers events densely and makes them visible in id
 * order ({@link RevocationEventStore}), and the feed always reads `after(lastId)` from the table,
 * never trusting a notification's content; notifications are only a hint to read now.
 *
 * @example
 * const feed = new RevocationFeed(store, log, { pollMs: 250 });
 * await feed.start();
 * const off = feed.subscribe((event) => index.add(...));
 */
import type { Logger } from "pino";
import type { RevocationEventRecord, Store } from "../store/index.js";

/** Receives each event once, in id order. Must not throw (a throw is logged and skipped). */
export type RevocationListener = (event: RevocationEventRecord) => void;

/** Events read per query while catching up. */
const PAGE = 500;

export class RevocationFeed {
  private last = 0;
  private readonly listeners = new Set<RevocationListener>();
  private pulling: Promise<void> | null = null;
  private again = false;
  private stopWatch: (() => Promise<void>) | null = null;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly options: { pollMs: number },
  ) {}

  /** Starts at the newest committed event (only later ones are delivered) and starts watching. */
  async start(): Promise<void> {
    this.last = await this.store.revocationEvents.latestId();
    this.stopWatch = this.store.revocationEvents.watch(() => void this.nudge(), {
      pollMs: this.options.pollMs,
      onError: (err) => this.log.warn({ err }, "revocation feed: watching for events failed; retrying"),
    });
  }

  /** The id of the newest event delivered to subscribers. */
  get lastId(): number {
    return this.last;
  }

  /** Adds a listener for every event after {@link RevocationFeed.lastId}; answers an unsubscribe. */
  subscribe(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Number of current subscribers. */
  get size(): number {
    return this.listeners.size;
  }

  /**
   * Reads and delivers every event committed so far. One read at a time: a call made while one
   * runs makes it read once more, and resolves when that read is done. Never rejects (a failed
   * read is logged; the next nudge or poll retries from the same id).
   */
  nudge(): Promise<void> {
    if (this.pulling) {
      this.again = true;
      return this.pulling;
    }
    this.pulling = (async () => {
      try {
        do {
          this.again = false;
          await this.drain();
        } while (this.again);
      } catch (err) {
        this.log.warn({ err }, "revocation feed: reading events failed; will retry");
      } finally {
        this.pulling = null;
      }
    })();
    return this.pulling;
  }

  /**
   * Delivers an event this process has just committed, without reading it back, when it is the
   * next one expected and no read is running; otherwise reads the log ({@link RevocationFeed.nudge}),
   * which delivers it in order with whatever came before it. Never delivers an id twice.
   */
  publish(event: RevocationEventRecord): Promise<void> {
    if (event.id <= this.last) return Promise.resolve();
    if (this.pulling || event.id !== this.last + 1) return this.nudge();
    this.deliver(event);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    const stop = this.stopWatch;
    this.stopWatch = null;
    if (stop) await stop();
    await this.pulling;
    this.listeners.clear();
  }

  private async drain(): Promise<void> {
    for (;;) {
      const events = await this.store.revocationEvents.after(this.last, PAGE);
      for (const event of events) if (event.id > this.last) this.deliver(event);
      if (events.length < PAGE) return;
    }
  }

  private deliver(event: RevocationEventRecord): void {
    this.last = event.id;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err, event: event.id }, "revocation feed: a subscriber threw");
      }
    }
  }
}
