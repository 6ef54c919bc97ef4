/**
 * Cascading revocation (DESIGN §4). One transaction per call, which also appends the revocation
 * event that verifiers receive (`GET /v1/revocations/events`); once it returns, introspection
 * answers `{"active": false}` for every token in the cascade and the token endpoint refuses every
 * identity in it. Revocation is monotonic: nothing here ever reactivates anything.
 *
 * - token  → the token and every token delegated from it (and the grants those delegations made)
 * - grant  → the grant, every grant delegated from it, and all their tokens
 * - agent  → the agent, its sub-agents recursively, all their grants and tokens
 * - principal → disabled; all of its agents as above. Human accounts elsewhere are untouched.
 *
 * @example
 * const result = await revokeTarget(deputy, caller, "agt_…", "compromised runner");
 * // { target: "agt_…", revoked: { principals: 0, agents: 3, grants: 4, tokens: 1200 } }
 */
import { DeputyError, idPrefix } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import type { RevocationCascade, RevokedTokenRef, Store } from "../store/index.js";
import { actorOf, type Caller, canSeeAgent, canSeePrincipal, notFound } from "./caller.js";

export interface RevocationResult {
  target: string;
  revoked: { principals: number; agents: number; grants: number; tokens: number };
  /** Ids newly revoked (tokens are counted, not listed). */
  cascade: { principals: string[]; agents: string[]; grants: string[] };
  /** The revocation event recorded for it (`GET /v1/revocations/events`), or null if nothing changed. */
  eventId: number | null;
}

export async function revokeTarget(
  d: Deputy,
  caller: Caller,
  target: string,
  reason: string | null,
): Promise<RevocationResult> {
  const kind = idPrefix(target);
  if (kind !== "prn" && kind !== "agt" && kind !== "grt" && kind !== "tok") {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      "target must be a principal, agent, grant or token id (prn_, agt_, grt_, tok_)",
    );
  }
  await authorize(d, caller, kind, target);
  const now = d.clock.now();
  const result = await d.store.transaction(async (tx) => {
    const changed = {
      principals: [] as string[],
      agents: [] as string[],
      grants: [] as string[],
      tokens: [] as RevokedTokenRef[],
    };
    let agentIds: string[] = [];
    let grantIds: string[] = [];
    if (kind === "prn") {
      if (await tx.principals.disable(target, now)) changed.principals.push(target);
      agentIds = await tx.agents.idsByPrincipal(target);
    } else if (kind === "agt") {
      agentIds = [target, ...(await tx.agents.descendants(target))];
    } else if (kind === "grt") {
      grantIds = [target, ...(await tx.grants.descendants(target))];
    } else {
      if (await tx.tokens.revoke(target, now)) {
        const token = await tx.tokens.get(target);
        if (token) changed.tokens.push({ id: target, exp: Math.ceil(token.expiresAt / 1000) });
      }
      changed.tokens.push(...(await tx.tokens.revokeDescendants(target, now)));
      const delegated = await tx.tokens.delegatedGrantIds(target);
      for (const g of delegated) grantIds.push(g, ...(await tx.grants.descendants(g)));
    }
    if (agentIds.length > 0) {
      const below = await revokeAgentsIn(tx, agentIds, now, reason);
      changed.agents = below.agents;
      changed.grants = below.grants;
      changed.tokens.push(...below.tokens);
    } else if (grantIds.length > 0) {
      // Read before the grants are revoked: tokens under an already-revoked grant were counted then.
      changed.tokens.push(...(await tx.tokens.activeByGrants(grantIds)));
      changed.grants = await tx.grants.revoke(grantIds, now);
    }
    await d.audit.record(
      {
        action: `${{ prn: "principal.disabled", agt: "agent.revoked", grt: "grant.revoked", tok: "token.revoked" }[kind]}`,
        decision: "allowed",
        actor: actorOf(caller),
        target,
        tokenId: kind === "tok" ? target : null,
        grantId: kind === "grt" ? target : null,
        details: {
          reason,
          revoked: {
            principals: changed.principals.length,
            agents: changed.agents.length,
            grants: changed.grants.length,
            tokens: changed.tokens.length,
          },
          agents: changed.agents,
          grants: changed.grants,
        },
      },
      tx,
    );
    const event = await appendRevocationEvent(tx, now, target, reason, changed);
    return { ...changed, ...event };
  });
  await publishRevocation(d, now, target, reason, result);
  return {
    target,
    revoked: {
      principals: result.principals.length,
      agents: result.agents.length,
      grants: result.grants.length,
      tokens: result.tokens.length,
    },
    cascade: { principals: result.principals, agents: result.agents, grants: result.grants },
    eventId: result.eventId,
  };
}

/**
 * Revokes the given agents (the caller passes their descendants too), every grant they hold and
 * so every token minted from those grants (a token's state derives from its grant), inside the
 * caller's transaction `tx`. Monotonic: returns only what changed. The caller then appends the
 * event ({@link appendRevocationEvent}) in the same transaction and publishes it after commit
 * ({@link publishRevocation}).
 *
 * @example
 * await d.store.transaction((tx) => revokeAgentsIn(tx, ["agt_…"], now, "enrollment revoked"));
 */
export async function revokeAgentsIn(
  tx: Store,
  agentIds: string[],
  now: number,
  reason: string | null,
): Promise<{ agents: string[]; grants: string[]; tokens: RevokedTokenRef[] }> {
  const agents = await tx.agents.revoke(agentIds, now, reason);
  const grantIds = await tx.grants.idsByAgents(agentIds);
  if (grantIds.length === 0) return { agents, grants: [], tokens: [] };
  // Read before the grants are revoked: tokens under an already-revoked grant were counted then.
  const tokens = await tx.tokens.activeByGrants(grantIds);
  const grants = await tx.grants.revoke(grantIds, now);
  return { agents, grants, tokens };
}

/** Seconds after its `exp` that a revoked token is still named in a revocation event. */
export const EXPIRED_TOKEN_GRACE_S = 60;

/**
 * DESIGN §4: appends the event verifiers receive for one revocation, inside its transaction (it
 * commits with the revocation or not at all); call it as the transaction's last write, so the
 * event head's lock is held only until COMMIT. Expired tokens are left out (verifiers refuse them
 * by `exp`); a revocation that changed nothing gets no event (`eventId` null).
 *
 * @example
 * const { eventId, cascade } = await appendRevocationEvent(tx, now, "agt_…", null, changed);
 */
export async function appendRevocationEvent(
  tx: Store,
  now: number,
  target: string,
  reason: string | null,
  changed: { principals?: string[]; agents: string[]; grants: string[]; tokens: RevokedTokenRef[] },
): Promise<{ eventId: number | null; cascade: RevocationCascade }> {
  const cascade: RevocationCascade = {
    principals: changed.principals ?? [],
    agents: changed.agents,
    grants: changed.grants,
    // Verifiers accept a token until `exp` plus their clock leeway (the SDK's default is 5 s):
    // a token that expired within the last minute is still named, so none is left acceptable.
    tokens: changed.tokens.filter((t) => (t.exp + EXPIRED_TOKEN_GRACE_S) * 1000 > now),
  };
  const eventId = isEmpty(cascade)
    ? null
    : await tx.revocationEvents.append({ at: now, target, reason, cascade });
  return { eventId, cascade };
}

/**
 * After the revocation committed: delivers the event to this process's subscribers (the
 * RevocationIndex, the status-list cache, SSE streams) before the caller answers, without reading
 * it back when it is the next one. Other processes hear of it through the store (NOTIFY on
 * PostgreSQL, a poll on SQLite).
 *
 * @example
 * await publishRevocation(d, now, "agt_…", null, { eventId, cascade });
 */
export async function publishRevocation(
  d: Deputy,
  now: number,
  target: string,
  reason: string | null,
  event: { eventId: number | null; cascade: RevocationCascade },
): Promise<void> {
  if (event.eventId === null) return;
  await d.revocationFeed.publish({ id: event.eventId, at: now, target, reason, cascade: event.cascade });
  // Delivery dropped the cached status lists (serve.ts subscribes them to the feed). Only when the
  // feed could not read the event yet (a failed read, retried by its next poll) are they dropped
  // here, so this answer never outruns them, and never twice.
  if (d.revocationFeed.lastId < event.eventId) d.statusLists.invalidate();
}

function isEmpty(c: RevocationCascade): boolean {
  return c.principals.length + c.agents.length + c.grants.length + c.tokens.length === 0;
}

/** Visibility: invisible targets answer 404 so existence never leaks. */
async function authorize(
  d: Deputy,
  caller: Caller,
  kind: "prn" | "agt" | "grt" | "tok",
  target: string,
): Promise<void> {
  if (caller.kind === "admin") {
    if (!(await exists(d.store, kind, target))) throw notFound(noun(kind), target);
    return;
  }
  if (kind === "prn") {
    if (!canSeePrincipal(caller, target) || !(await d.store.principals.get(target)))
      throw notFound("principal", target);
    if (caller.kind === "agent")
      throw new DeputyError("ERR_FORBIDDEN", "an agent cannot disable its principal");
    return;
  }
  const agentId =
    kind === "agt"
      ? target
      : kind === "grt"
        ? (await d.store.grants.get(target))?.agentId
        : (await d.store.tokens.get(target))?.agentId;
  const agent = agentId ? await d.store.agents.get(agentId) : null;
  if (!agent || !canSeeAgent(caller, agent)) throw notFound(noun(kind), target);
}

async function exists(store: Store, kind: "prn" | "agt" | "grt" | "tok", id: string): Promise<boolean> {
  switch (kind) {
    case "prn":
      return (await store.principals.get(id)) !== null;
    case "agt":
      return (await store.agents.get(id)) !== null;
    case "grt":
      return (await store.grants.get(id)) !== null;
    case "tok":
      return (await store.tokens.get(id)) !== null;
  }
}

function noun(kind: "prn" | "agt" | "grt" | "tok"): string {
  return { prn: "principal", agt: "agent", grt: "grant", tok: "token" }[kind];
}
