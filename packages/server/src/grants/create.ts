/**
 * Grants: durable delegation from a principal to an agent, or from an agent to its sub-agent.
 * A sub-agent's grant is always attenuated from one of its parent's active grants (DESIGN §1:
 * principal's grant ∩ parent hop ∩ request), so it can never outlive or exceed it.
 *
 * @example
 * await createGrant(deputy, caller, {
 *   agent: "agt_…", scopes: ["deploy"], resources: ["https://api.example"],
 *   expiresAt: Date.now() + 86_400_000, maxDelegationDepth: 1,
 * });
 */
import { type Authority, attenuate, DeputyError, MAX_DELEGATION_DEPTH, newId } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { actorOf, type Caller, canSeeAgent, notFound, requireDelegatingAgent } from "../identity/caller.js";
import { checkWithinCeiling } from "../provision/ceiling.js";
import type { GrantConstraints, GrantRecord, Page, PageRequest, Store } from "../store/index.js";

export interface CreateGrantInput {
  agent: string;
  scopes: string[];
  resources: string[];
  /** Epoch ms. */
  expiresAt: number;
  maxDelegationDepth?: number | undefined;
  constraints?: GrantConstraints | undefined;
}

export function authorityOf(g: GrantRecord): Authority {
  return {
    scopes: g.scopes,
    resources: g.resources,
    expiresAt: g.expiresAt,
    depthRemaining: g.maxDelegationDepth,
  };
}

export async function createGrant(d: Deputy, caller: Caller, input: CreateGrantInput): Promise<GrantRecord> {
  const agent = await d.store.agents.get(input.agent);
  if (!agent || !canSeeAgent(caller, agent)) throw notFound("agent", input.agent);
  requireDelegatingAgent(caller, agent, "create grants");
  if (agent.status !== "active") throw new DeputyError("ERR_AGENT_REVOKED", `agent ${agent.id} is revoked`);
  const principal = await d.store.principals.get(agent.principalId);
  if (principal?.status !== "active") {
    throw new DeputyError("ERR_PRINCIPAL_DISABLED", `principal ${agent.principalId} is disabled`);
  }
  const now = d.clock.now();
  if (input.expiresAt <= now)
    throw new DeputyError("ERR_INVALID_REQUEST", "expires_at must be in the future");
  const depth = input.maxDelegationDepth ?? 0;
  if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DELEGATION_DEPTH) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      `max_delegation_depth must be an integer 0..${MAX_DELEGATION_DEPTH}`,
    );
  }
  await requireRegistered(d.store, input.resources);
  // DESIGN §1: an enrollment's (or the sandbox's) ceiling caps every grant the agent ever gets.
  checkWithinCeiling(agent, input.scopes, input.resources);

  const requested: Authority = {
    scopes: input.scopes,
    resources: input.resources,
    expiresAt: input.expiresAt,
    depthRemaining: depth,
  };
  const parentGrantId =
    agent.parentId === null ? null : await pickParentGrant(d.store, agent.parentId, requested, now);

  const record: GrantRecord = {
    id: newId("grt"),
    agentId: agent.id,
    principalId: agent.principalId,
    parentGrantId,
    scopes: [...new Set(input.scopes)],
    resources: [...new Set(input.resources)],
    expiresAt: input.expiresAt,
    maxDelegationDepth: depth,
    constraints: input.constraints ?? {},
    tokensIssued: 0,
    status: "active",
    createdAt: now,
    revokedAt: null,
  };
  await d.store.transaction(async (tx) => {
    await tx.grants.create(record);
    await d.audit.record(
      {
        action: "grant.created",
        decision: "allowed",
        actor: actorOf(caller),
        target: record.id,
        grantId: record.id,
        details: {
          agent: agent.id,
          scopes: record.scopes,
          resources: record.resources,
          parent_grant: parentGrantId,
          max_delegation_depth: depth,
        },
      },
      tx,
    );
  });
  return record;
}

/** Every audience must be a registered resource (DESIGN §4). */
export async function requireRegistered(store: Store, audiences: readonly string[]): Promise<void> {
  for (const aud of audiences) {
    if (!(await store.resources.getByAudience(aud))) {
      throw new DeputyError(
        "ERR_UNKNOWN_RESOURCE",
        `resource ${aud} is not registered; register it with POST /v1/resources`,
      );
    }
  }
}

/**
 * Finds an active grant of the parent agent from which `requested` can be attenuated. When none
 * fits, rethrows the refusal of the first candidate so the caller learns which axis widened.
 */
async function pickParentGrant(
  store: Store,
  parentAgentId: string,
  requested: Authority,
  now: number,
): Promise<string> {
  const candidates = await store.grants.activeForAgent(parentAgentId, now);
  if (candidates.length === 0) {
    throw new DeputyError("ERR_NO_GRANT", "the parent agent holds no active grant to delegate from");
  }
  let firstError: unknown;
  for (const parent of candidates) {
    try {
      attenuate(authorityOf(parent), requested);
      return parent.id;
    } catch (e) {
      firstError ??= e;
    }
  }
  throw firstError;
}

export async function getGrant(d: Deputy, caller: Caller, id: string): Promise<GrantRecord> {
  const grant = await d.store.grants.get(id);
  if (!grant) throw notFound("grant", id);
  const agent = await d.store.agents.get(grant.agentId);
  if (!agent || !canSeeAgent(caller, agent)) throw notFound("grant", id);
  return grant;
}

export async function listGrants(
  d: Deputy,
  caller: Caller,
  filter: { agent?: string | undefined; status?: string | undefined },
  page: PageRequest,
): Promise<Page<GrantRecord>> {
  if (caller.kind === "admin")
    return d.store.grants.list({ agentId: filter.agent, status: filter.status }, page);
  if (caller.kind === "principal") {
    return d.store.grants.list(
      { agentId: filter.agent, principalId: caller.principalId, status: filter.status },
      page,
    );
  }
  const agentId = filter.agent ?? caller.agentId;
  const agent = await d.store.agents.get(agentId);
  if (!agent || !canSeeAgent(caller, agent)) return { items: [], hasMore: false };
  return d.store.grants.list({ agentId, status: filter.status }, page);
}
