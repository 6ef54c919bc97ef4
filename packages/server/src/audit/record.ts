/**
 * The one audit interface. Every operation and every authorization decision goes through
 * {@link Audit.record} as an entry that names the acting agent, its chain, the principal, the
 * token and grant ids, the action and the decision (DESIGN §4 "Audit log").
 *
 * Entries are canonical JSON (RFC 8785), so the bytes stored are the bytes a Merkle ledger hashes.
 * A state change records its entry inside the same transaction (`tx`), so the change and its
 * attribution commit together; a refusal records on its own.
 *
 * Never put secrets, tokens or request bodies in an entry: hashes and ids only.
 *
 * @example
 * await audit.record({
 *   action: "token.issued", decision: "allowed",
 *   actor: { agent: "agt_…", chain: [], principal: "prn_…" },
 *   tokenId: "tok_…", grantId: "grt_…", resource: "https://api.example",
 * }, tx);
 */
import type { Clock } from "../clock.js";
import { type AuditRecord, type EntryTemplate, renderEntry, type Store } from "../store/index.js";
import { type RefusalSummary, RefusalThrottle, type RefusalThrottleOptions } from "./refusal-throttle.js";

export type Decision = "allowed" | "denied" | "info";

/** Who made the call: an agent (with its chain and principal), a principal, the admin, a resource. */
export interface AuditActor {
  agent: string | null;
  /** Parent agents of `agent`, nearest first. */
  chain: string[];
  principal: string | null;
  /** How the caller authenticated: "agent" | "principal" | "admin" | "resource" | "anonymous" | "system". */
  kind?: string;
  /** The resource id when a resource server made the call (introspection). */
  resource_id?: string;
}

export interface AuditEvent {
  /** `<entity>.<past-verb>`, e.g. `token.issued`, `agent.revoked`, `token.refused`. */
  action: string;
  decision: Decision;
  actor: AuditActor;
  /** The object acted on (an id), if any. */
  target?: string | null;
  /** The resource audience involved, if any. */
  resource?: string | null;
  tokenId?: string | null;
  grantId?: string | null;
  request?: { method: string; url: string; body_sha256?: string } | undefined;
  /** Small, non-secret facts (error code, scopes, counts). */
  details?: Record<string, unknown>;
}

export const AUDIT_ENTRY_VERSION = 1;

/** Errors whose refusal was audited where they were thrown (see {@link markAudited}). */
const auditedErrors = new WeakSet<object>();

/**
 * Marks an error whose refusal its thrower has already written to the audit log (with more to say
 * than the HTTP layer knows), so the HTTP error handler does not record it a second time.
 *
 * @example
 * await audit.recordRefusal(event, source);
 * throw markAudited(error);
 */
export function markAudited<E extends object>(error: E): E {
  auditedErrors.add(error);
  return error;
}

/** Whether {@link markAudited} marked `error`. */
export function wasAudited(error: unknown): boolean {
  return typeof error === "object" && error !== null && auditedErrors.has(error);
}

/**
 * Event-loop passes between a batch's commit and the next batch: the callers it answered resume
 * in one (their awaits), and what they do next runs in the next.
 */
const AFTER_BATCH_PASSES = 2;

/** Most standalone entries one batch transaction appends. */
const MAX_STANDALONE_BATCH = 2000;

interface Pending {
  event: AuditEvent;
  resolve: (index: number) => void;
  reject: (error: unknown) => void;
}

export class Audit {
  /**
   * Called after each append (the audit ledger's nudge, so it integrates soon). Inside a
   * transaction the entry is not committed yet when this runs; the ledger only reads committed
   * entries, and its periodic run picks up whatever a nudge came too early for.
   */
  onAppend: (() => void) | null = null;

  /**
   * Called with standalone entries once their batch has committed (`indexes[k]` holds
   * `entries[k]`, the exact text stored): the audit ledger keeps their leaf hashes so it need not
   * read them back (audit/leaf-cache.ts). Entries appended inside a transaction are not passed:
   * that transaction may still roll back.
   */
  onCommitted: ((indexes: readonly number[], entries: readonly string[]) => void) | null = null;

  #queue: Pending[] = [];
  #flushing = false;
  /** Counts refusals without an authenticated caller ({@link recordRefusal}). */
  readonly refusals: RefusalThrottle;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    refusals: RefusalThrottleOptions = { limit: 20, windowMs: 60_000 },
  ) {
    this.refusals = new RefusalThrottle(clock, refusals);
  }

  /**
   * Records a refusal that no authenticated caller stands behind, keyed by `source` (the client
   * address): the first few per window are appended like {@link record}; the rest are counted
   * into one `audit.refusals_suppressed` entry once their window has closed (audit/refusal-throttle.ts).
   * Returns the entry's index, or null when it was only counted. Authenticated decisions use
   * {@link record}: every one of them is an entry.
   */
  async recordRefusal(event: AuditEvent, source: string): Promise<number | null> {
    const { record, due } = this.refusals.admit(event.action, source, event.actor.principal);
    const summaries = due.map((s) => this.record(suppressedEvent(s)));
    const index = record ? this.record(event) : null;
    await Promise.all(summaries);
    return index;
  }

  /**
   * Appends the summaries of the refusal windows that have closed (`all`: every window, open ones
   * too, as at shutdown). serve.ts calls it every minute, so a flood that stopped is summarised.
   */
  async flushRefusals(options: { all?: boolean } = {}): Promise<void> {
    const due = this.refusals.due(options.all ? Number.POSITIVE_INFINITY : this.clock.now());
    await Promise.all(due.map((s) => this.record(suppressedEvent(s))));
  }

  /**
   * Appends one entry and returns its index: inside `tx` when given (it commits with the change it
   * attributes), else batched with the other standalone entries waiting at that moment into one
   * transaction (one multi-row insert), which the store group-commits with others. Either way the
   * entry is durable before this resolves.
   */
  async record(event: AuditEvent, tx?: Store): Promise<number> {
    if (tx === undefined) {
      return new Promise<number>((resolve, reject) => {
        this.#queue.push({ event, resolve, reject });
        if (!this.#flushing) this.#schedule(1);
      });
    }
    const at = this.clock.now();
    const index = await tx.audit.append(
      fieldsOf(event, at),
      entryTemplate(event, new Date(at).toISOString()),
    );
    this.onAppend?.();
    return index;
  }

  /**
   * Starts the next batch `passes` passes of the event loop from now (`setImmediate`), so that
   * the entries appended meanwhile join it. Without the wait a batch took the few entries already
   * waiting when the previous one committed, and the callers that batch had just answered
   * appended behind it: the batches alternated between a handful of entries and the rest, each
   * paying a full commit (measured: 128 entries per commit on average with 256 appenders on
   * PostgreSQL, against 256 since). A pass costs microseconds; a commit, milliseconds.
   */
  #schedule(passes: number): void {
    this.#flushing = true;
    const pass = (left: number): void => {
      if (left > 0) setImmediate(pass, left - 1);
      else this.#flush();
    };
    pass(passes);
  }

  /**
   * Appends the queued standalone entries, as many as wait when the append starts. On SQLite
   * through {@link Store.transaction}, so the batch shares its COMMIT with the other writes of
   * that moment (group commit); on PostgreSQL `appendMany` is one autocommitted statement.
   */
  #flush(): void {
    let batch: Pending[] = [];
    let templates: EntryTemplate[] = [];
    const append = async (store: Store): Promise<number[]> => {
      // Taken when the append runs, not when it was queued: entries that arrived while the
      // store was busy join this batch.
      batch = this.#queue.splice(0, MAX_STANDALONE_BATCH);
      const at = this.clock.now();
      const iso = new Date(at).toISOString();
      const items: Parameters<Store["audit"]["appendMany"]>[0][number][] = [];
      const kept: Pending[] = [];
      for (const p of batch) {
        try {
          items.push({ fields: fieldsOf(p.event, at), entry: entryTemplate(p.event, iso) });
          kept.push(p);
        } catch (error) {
          // Not JSON (NaN, a BigInt in details…): refused alone, before anything is written.
          p.reject(error);
        }
      }
      batch = kept;
      templates = items.map((item) => item.entry);
      return store.audit.appendMany(items);
    };
    (this.store.dialect === "postgres" ? append(this.store) : this.store.transaction(append))
      .then(
        (indexes) => {
          batch.forEach((p, k) => {
            p.resolve(indexes[k]!);
          });
          if (indexes.length === 0) return;
          if (this.onCommitted) {
            this.onCommitted(
              indexes,
              indexes.map((index, k) => renderEntry(templates[k]!, index)),
            );
          }
          this.onAppend?.();
        },
        (error: unknown) => {
          // The append can fail before it took the batch (no connection: the store is closed).
          // Take the waiting entries then, or the `finally` below would retry the same queue
          // forever in a loop of microtasks that starves the event loop.
          if (batch.length === 0) batch = this.#queue.splice(0, MAX_STANDALONE_BATCH);
          for (const p of batch) p.reject(error);
        },
      )
      .finally(() => {
        this.#flushing = false;
        if (this.#queue.length > 0) this.#schedule(AFTER_BATCH_PASSES);
      });
  }
}

/** The one entry standing for refusals the throttle left out of the log. */
function suppressedEvent(s: RefusalSummary): AuditEvent {
  const from = new Date(s.from).toISOString();
  return {
    action: "audit.refusals_suppressed",
    decision: "denied",
    // Attributed when the source is a principal's own credential (a real enrollment's code).
    actor: { agent: null, chain: [], principal: s.principal, kind: "anonymous" },
    details: {
      refused_action: s.action,
      source: s.source,
      suppressed: s.suppressed,
      window_start: from,
      window_end: new Date(s.until).toISOString(),
      summary: `suppressed ${s.suppressed} similar ${s.action} refusals from ${s.source} in the ${(s.until - s.from) / 1000} s from ${from}`,
    },
  };
}

function fieldsOf(event: AuditEvent, at: number): Omit<AuditRecord, "index" | "entry"> {
  return {
    at,
    action: event.action,
    decision: event.decision,
    actorAgent: event.actor.agent,
    actorChain: event.actor.chain,
    actorPrincipal: event.actor.principal,
    target: event.target ?? null,
    resource: event.resource ?? null,
    tokenId: event.tokenId ?? null,
    grantId: event.grantId ?? null,
  };
}

/**
 * The canonical (RFC 8785) entry: the exact bytes stored and hashed into the Merkle tree. The
 * fixed members are written in their canonical order directly (the general serializer would sort
 * a dozen keys per entry on the append path); `chain`, `details` and `request` go through
 * {@link canonicalJson}; `at` is the RFC 3339 time. record.test.ts checks the result equals the
 * `canonicalize` package's.
 *
 * @example
 * entryBytes(event, "2026-01-01T00:00:00.000Z", 41); // '{"action":"token.issued",…,"index":41,…}'
 */
export function entryBytes(event: AuditEvent, at: string, index: number): string {
  return renderEntry(entryTemplate(event, at), index);
}

/**
 * The entry as a template around its `index` member (a non-negative integer, which RFC 8785 §3.2.2.3
 * serialises as plain decimal digits), so the store can number a batch as it writes it.
 *
 * @example
 * const t = entryTemplate(event, new Date().toISOString()); // t.head ends in '"index":'
 */
export function entryTemplate(event: AuditEvent, at: string): EntryTemplate {
  const a = event.actor;
  // RFC 8785 §3.2.3: members sorted by UTF-16 code units.
  let actor = `{"agent":${canonicalJson(a.agent)},"chain":${canonicalJson(a.chain)}`;
  if (a.kind) actor += `,"kind":${canonicalJson(a.kind)}`;
  actor += `,"principal":${canonicalJson(a.principal)}`;
  if (a.resource_id) actor += `,"resource_id":${canonicalJson(a.resource_id)}`;
  const request = event.request ? `"request":${canonicalJson(event.request)},` : "";
  return {
    head:
      `{"action":${canonicalJson(event.action)},"actor":${actor}},"at":"${at}",` +
      `"decision":${canonicalJson(event.decision)},"details":${canonicalJson(event.details ?? {})},` +
      `"grant_id":${canonicalJson(event.grantId ?? null)},"index":`,
    tail:
      `,${request}"resource":${canonicalJson(event.resource ?? null)},"target":${canonicalJson(event.target ?? null)},` +
      `"token_id":${canonicalJson(event.tokenId ?? null)},"v":${AUDIT_ENTRY_VERSION}}`,
  };
}

/**
 * RFC 8785 JSON Canonicalization of a JSON value: ECMAScript serialization of primitives
 * (§3.2.2), object members sorted by UTF-16 code units (§3.2.3), no whitespace. Throws for
 * values JSON cannot carry (NaN, Infinity, BigInt, undefined at the top).
 *
 * @example
 * canonicalJson({ b: 1, a: [true, null] }); // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("RFC 8785: numbers must be finite");
      return JSON.stringify(value);
    case "object": {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return canonicalJson(toJSON.call(value));
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          out += `${i === 0 ? "" : ","}${item === undefined || typeof item === "function" || typeof item === "symbol" ? "null" : canonicalJson(item)}`;
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      let out = "";
      for (const key of Object.keys(record).sort()) {
        const item = record[key];
        if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
        out += `${out.length === 0 ? "" : ","}${JSON.stringify(key)}:${canonicalJson(item)}`;
      }
      return `{${out}}`;
    }
    default:
      throw new TypeError(`RFC 8785: a ${typeof value} is not JSON`);
  }
}
