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
import canonicalizeModule from "canonicalize";
import type { Clock } from "../clock.js";
import type { Store } from "../store/index.js";

// The package is CommonJS (`module.exports = serialize`); its typings describe an ES default.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

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

export class Audit {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Appends one entry and returns its index: inside `tx` when given (it commits with the change it
   * attributes), else in its own transaction, which the store group-commits with others. Either
   * way the entry is durable before this resolves.
   */
  async record(event: AuditEvent, tx?: Store): Promise<number> {
    if (tx === undefined) return this.store.transaction((t) => this.record(event, t));
    const store = tx;
    const at = this.clock.now();
    const actor = {
      agent: event.actor.agent,
      chain: event.actor.chain,
      principal: event.actor.principal,
      ...(event.actor.kind ? { kind: event.actor.kind } : {}),
      ...(event.actor.resource_id ? { resource_id: event.actor.resource_id } : {}),
    };
    return store.audit.append(
      {
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
      },
      (index) =>
        canonicalize({
          v: AUDIT_ENTRY_VERSION,
          index,
          at: new Date(at).toISOString(),
          action: event.action,
          actor,
          target: event.target ?? null,
          resource: event.resource ?? null,
          decision: event.decision,
          token_id: event.tokenId ?? null,
          grant_id: event.grantId ?? null,
          ...(event.request ? { request: event.request } : {}),
          details: event.details ?? {},
        }) as string,
    );
  }
}
