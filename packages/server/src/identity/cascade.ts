/**
 * Cascading revocation (DESIGN §4). One transaction per call; once it returns, introspection
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
import type { Store } from "../store/index.js";
import { actorOf, type Caller, canSeeAgent, canSeePrincipal, notFound } from "./caller.js";

export interface RevocationResult {
  target: string;
  revoked: { principals: number; agents: number; grants: number; tokens: number };
  /** Ids newly revoked (tokens are counted, not listed). */
  cascade: { principals: string[]; agents: string[]; grants: string[] };
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
    const changed = { principals: [] as string[], agents: [] as string[], grants: [] as string[], tokens: 0 };
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
      if (await tx.tokens.revoke(target, now)) changed.tokens++;
      changed.tokens += await tx.tokens.revokeDescendants(target, now);
      const delegated = await tx.tokens.delegatedGrantIds(target);
      for (const g of delegated) grantIds.push(g, ...(await tx.grants.descendants(g)));
    }
    if (agentIds.length > 0) {
      const below = await revokeAgentsIn(tx, agentIds, now, reason);
      changed.agents = below.agents;
      changed.grants = below.grants;
      changed.tokens += below.tokens;
    } else if (grantIds.length > 0) {
      // Read before the grants are revoked: tokens under an already-revoked grant were counted then.
      changed.tokens += (await tx.tokens.activeByGrants(grantIds)).length;
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
            tokens: changed.tokens,
          },
          agents: changed.agents,
          grants: changed.grants,
        },
      },
      tx,
    );
    return changed;
  });
  d.revocations.add({
    principals: result.principals,
    agents: result.agents,
    grants: result.grants,
    ...(kind === "tok" ? { tokens: [{ id: target, expiresAt: now + 3_600_000 }] } : {}),
  });
  return {
    target,
    revoked: {
      principals: result.principals.length,
      agents: result.agents.length,
      grants: result.grants.length,
      tokens: result.tokens,
    },
    cascade: { principals: result.principals, agents: result.agents, grants: result.grants },
  };
}

/**
 * Revokes the given agents (the caller passes their descendants too), every grant they hold and
 * every token minted from those grants, inside the caller's transaction `tx`. Monotonic: returns
 * only what changed. The caller feeds the result to `d.revocations` after commit.
 *
 * @example
 * await d.store.transaction((tx) => revokeAgentsIn(tx, ["agt_…"], now, "enrollment revoked"));
 */
export async function revokeAgentsIn(
  tx: Store,
  agentIds: string[],
  now: number,
  reason: string | null,
): Promise<{ agents: string[]; grants: string[]; tokens: number }> {
  const agents = await tx.agents.revoke(agentIds, now, reason);
  const grantIds = await tx.grants.idsByAgents(agentIds);
  if (grantIds.length === 0) return { agents, grants: [], tokens: 0 };
  const tokens = (await tx.tokens.activeByGrants(grantIds)).length;
  const grants = await tx.grants.revoke(grantIds, now);
  return { agents, grants, tokens };
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
