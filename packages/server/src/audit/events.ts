/**
 * `GET /v1/audit/events`: "what did agent X do", "everything done on behalf of principal P",
 * "everything about token T", each one indexed query, in index order (or newest first), with an
 * opaque cursor. Visibility (DESIGN §4): the admin sees every entry; a principal token sees only
 * entries whose actor principal is that principal — which includes everything its agents and
 * their sub-agents did, since a sub-agent acts for its root agent's principal.
 *
 * @example
 * const page = await listEvents(deputy, caller, { agent: "agt_…", limit: 50, order: "asc" });
 * page.items[0]; // { index: 7, entry: { v: 1, index: 7, action: "token.issued", … } }
 */
import { DeputyError } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import type { Caller } from "../identity/caller.js";
import type { AuditRecord } from "../store/index.js";

export interface EventsQuery {
  agent?: string | undefined;
  principal?: string | undefined;
  action?: string | undefined;
  resource?: string | undefined;
  decision?: AuditRecord["decision"] | undefined;
  token?: string | undefined;
  /** Inclusive bounds on the entry time, epoch ms. */
  since?: number | undefined;
  until?: number | undefined;
  /** Only entries after this index (exclusive), for followers such as `deputy audit tail -f`. */
  after?: number | undefined;
  order: "asc" | "desc";
  limit: number;
  cursor?: string | undefined;
}

export interface EventsPage {
  items: Array<{ index: number; entry: Record<string, unknown> }>;
  next_cursor: string | null;
}

/**
 * Who may read audit entries: the admin, or a principal (its own). Agents are refused.
 *
 * @example
 * requireAuditReader(await authenticateCaller(d, request)); // throws ERR_FORBIDDEN for agents
 */
export function requireAuditReader(caller: Caller): void {
  if (caller.kind === "agent") {
    throw new DeputyError(
      "ERR_FORBIDDEN",
      "the audit log is read with the admin token or a principal token, not an agent's token",
    );
  }
}

/**
 * May `caller` read this entry? Principals see the entries made on their behalf.
 *
 * @example
 * if (!canSeeEntry(caller, record)) throw notFound("audit entry", String(index));
 */
export function canSeeEntry(caller: Caller, record: AuditRecord): boolean {
  if (caller.kind === "admin") return true;
  return caller.kind === "principal" && record.actorPrincipal === caller.principalId;
}

/**
 * {@link canSeeEntry}, plus the entries a temporary agent made before the caller claimed it (they
 * name the sandbox principal, and stay as they were hashed; the claim is what links them).
 *
 * @example
 * if (!(await canSeeEntryOrClaimed(deputy, caller, record))) throw notFound("audit entry");
 */
export async function canSeeEntryOrClaimed(d: Deputy, caller: Caller, record: AuditRecord): Promise<boolean> {
  if (canSeeEntry(caller, record)) return true;
  if (caller.kind !== "principal" || record.actorAgent === null) return false;
  const agent = await d.store.agents.get(record.actorAgent);
  return agent !== null && agent.claimedAt !== null && agent.principalId === caller.principalId;
}

/** Lists entries per the query and the caller's visibility; see the module docs. */
export async function listEvents(d: Deputy, caller: Caller, q: EventsQuery): Promise<EventsPage> {
  requireAuditReader(caller);
  let principal = q.principal;
  if (caller.kind === "principal") {
    // Another principal's entries are invisible, as if there were none (DESIGN: invisible is 404/empty).
    if (principal !== undefined && principal !== caller.principalId) return { items: [], next_cursor: null };
    principal = caller.principalId;
  }
  if (q.since !== undefined && q.until !== undefined && q.since > q.until) {
    throw new DeputyError("ERR_INVALID_REQUEST", "since is after until: the time range is empty");
  }
  let order = q.order;
  let bound: number | undefined;
  if (q.cursor !== undefined) {
    const c = decodeEventsCursor(q.cursor);
    order = c.order;
    bound = c.index;
  }
  const page = await d.store.audit.query(
    {
      agent: q.agent,
      principal,
      action: q.action,
      resource: q.resource,
      decision: q.decision,
      tokenId: q.token,
      since: q.since,
      until: q.until,
    },
    {
      limit: q.limit,
      order,
      afterIndex: order === "asc" ? maxDefined(bound, q.after) : q.after,
      beforeIndex: order === "desc" ? bound : undefined,
    },
  );
  const last = page.items[page.items.length - 1];
  return {
    items: page.items.map((r) => ({ index: r.index, entry: JSON.parse(r.entry) as Record<string, unknown> })),
    next_cursor: page.hasMore && last ? encodeEventsCursor({ index: last.index, order }) : null,
  };
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

/**
 * The events cursor: base64url JSON `["a"|"d", lastIndex]`. It carries the order it was issued
 * for, so a page continues the way it started; a tampered cursor is at most another starting
 * point, never a way around visibility (the filters are re-applied on every page).
 *
 * @example
 * decodeEventsCursor(encodeEventsCursor({ index: 41, order: "asc" })); // { index: 41, order: "asc" }
 */
export function encodeEventsCursor(c: { index: number; order: "asc" | "desc" }): string {
  return Buffer.from(JSON.stringify([c.order === "asc" ? "a" : "d", c.index])).toString("base64url");
}

/** Parses a cursor from {@link encodeEventsCursor}; throws ERR_INVALID_CURSOR for anything else. */
export function decodeEventsCursor(cursor: string): { index: number; order: "asc" | "desc" } {
  try {
    if (cursor.length <= 64 && /^[A-Za-z0-9_-]+$/.test(cursor)) {
      const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
      if (
        Array.isArray(v) &&
        v.length === 2 &&
        (v[0] === "a" || v[0] === "d") &&
        Number.isSafeInteger(v[1]) &&
        (v[1] as number) >= 0
      ) {
        return { order: v[0] === "a" ? "asc" : "desc", index: v[1] as number };
      }
    }
  } catch {
    // fall through
  }
  throw new DeputyError("ERR_INVALID_CURSOR", "cursor is not one this server issued; start again without it");
}
