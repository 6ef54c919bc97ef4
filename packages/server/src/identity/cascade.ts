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
      changed.agents = await tx.agents.revoke(agentIds, now, reason);
      grantIds = await tx.grants.idsByAgents(agentIds);
    }
    if (grantIds.length > 0) {
      changed.grants = await tx.grants.revoke(grantIds, now);
      changed.tokens.push(...(await tx.tokens.revokeByGrants(grantIds, now)));
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
    // DESIGN §4: the event verifiers receive, in this same transaction (it commits with the
    // revocation or not at all), appended last so the event head's lock is held only until COMMIT.
    // An expired token needs no event (verifiers refuse it by `exp`); a revocation that changed
    // nothing needs none either.
    const cascade: RevocationCascade = {
      principals: changed.principals,
      agents: changed.agents,
      grants: changed.grants,
      tokens: changed.tokens.filter((t) => t.exp * 1000 > now),
    };
    const eventId = isEmpty(cascade)
      ? null
      : await tx.revocationEvents.append({ at: now, target, reason, cascade });
    return { ...changed, cascade, eventId };
  });
  if (result.eventId !== null) {
    d.statusLists.invalidate();
    // Deliver to this process's subscribers (the RevocationIndex, SSE streams) before answering,
    // without reading the event back when it is the next one; other processes hear of it through
    // the store (NOTIFY on PostgreSQL, a poll on SQLite).
    await d.revocationFeed.publish({ id: result.eventId, at: now, target, reason, cascade: result.cascade });
  }
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
