/**
 * Agents: first-class identities with their own public keys, one principal each, optionally a
 * parent agent. Deputy never sees an agent's private key: a JWK with private members is refused.
 *
 * @example
 * const agent = await createAgent(deputy, caller, { principal: "prn_…", name: "deployer", jwks });
 */
import { DeputyError, MAX_DELEGATION_DEPTH, newId, SCOPE_AGENTS_DELEGATE } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { importAgentPublicJwk } from "../crypto/jwk.js";
import { consumeStatement, resolveProvenance } from "../provision/provenance.js";
import { provenanceDetails } from "../provision/register.js";
import type { AgentKeyRecord, AgentRecord, AgentStatus, Page, PageRequest } from "../store/index.js";
import { actorOf, type Caller, canSeeAgent, notFound, requireDelegatingAgent } from "./caller.js";

export const MAX_KEYS_PER_AGENT = 10;

export interface CreateAgentInput {
  principal: string;
  name: string;
  jwks: { keys: unknown[] };
  parent?: string | undefined;
  description?: string | undefined;
  provenance?: Record<string, unknown> | undefined;
}

/** Validates each JWK and returns key records; refuses private members, duplicates and >10 keys. */
export function importAgentKeys(agentId: string, keys: unknown[], now: number): AgentKeyRecord[] {
  if (keys.length === 0)
    throw new DeputyError("ERR_INVALID_REQUEST", "jwks.keys must hold at least one public key");
  if (keys.length > MAX_KEYS_PER_AGENT) {
    throw new DeputyError("ERR_INVALID_REQUEST", `an agent may hold at most ${MAX_KEYS_PER_AGENT} keys`);
  }
  const seen = new Set<string>();
  return keys.map((raw) => {
    const k = importAgentPublicJwk(raw);
    if (seen.has(k.kid)) throw new DeputyError("ERR_INVALID_REQUEST", `duplicate key ${k.kid} in jwks`);
    seen.add(k.kid);
    return {
      agentId,
      kid: k.kid,
      jwk: k.jwk as unknown as Record<string, unknown>,
      alg: k.alg,
      createdAt: now,
      removedAt: null,
    };
  });
}

export async function createAgent(d: Deputy, caller: Caller, input: CreateAgentInput): Promise<AgentRecord> {
  // Visibility first: a principal token naming another principal gets 404, never 403.
  if (caller.kind === "principal" && caller.principalId !== input.principal)
    throw notFound("principal", input.principal);
  if (caller.kind === "agent") {
    if (!caller.scopes.includes(SCOPE_AGENTS_DELEGATE)) {
      throw new DeputyError(
        "ERR_INSUFFICIENT_SCOPE",
        `creating a sub-agent needs scope ${SCOPE_AGENTS_DELEGATE}`,
      );
    }
    if (input.principal !== caller.principalId) throw notFound("principal", input.principal);
    if (input.parent === undefined) {
      throw new DeputyError("ERR_FORBIDDEN", "an agent may only create its own sub-agents: set parent");
    }
  }
  const principal = await d.store.principals.get(input.principal);
  if (!principal) throw notFound("principal", input.principal);
  if (principal.status !== "active")
    throw new DeputyError("ERR_PRINCIPAL_DISABLED", `principal ${principal.id} is disabled`);

  let chain: string[] = [];
  if (input.parent !== undefined) {
    const parent = await d.store.agents.get(input.parent);
    if (!parent || !canSeeAgent(caller, parent) || parent.principalId !== principal.id) {
      throw notFound("parent agent", input.parent);
    }
    if (parent.status !== "active")
      throw new DeputyError("ERR_AGENT_REVOKED", `parent agent ${parent.id} is revoked`);
    // A sub-agent is neither temporary nor claimable: under an unclaimed temporary agent it would
    // outlive the sweep and let one proof of work buy any number of identities.
    if (parent.temporaryUntil !== null) {
      throw new DeputyError(
        "ERR_AGENT_CEILING",
        `agent ${parent.id} is an unclaimed temporary agent: it can have sub-agents once a human claims it`,
      );
    }
    chain = [parent.id, ...parent.chain];
    if (chain.length > MAX_DELEGATION_DEPTH) {
      throw new DeputyError(
        "ERR_DELEGATION_DEPTH_EXCEEDED",
        `sub-agents may nest at most ${MAX_DELEGATION_DEPTH} levels below a root agent`,
      );
    }
  }
  const now = d.clock.now();
  const id = newId("agt");
  const keys = importAgentKeys(id, input.jwks.keys, now);
  let prov: Awaited<ReturnType<typeof resolveProvenance>>;
  try {
    prov = await resolveProvenance(
      d,
      input.provenance,
      keys.map((k) => k.kid),
    );
  } catch (e) {
    await refuseStatement(d, caller, input.principal, e);
    throw e;
  }
  const record: AgentRecord = {
    id,
    principalId: principal.id,
    parentId: input.parent ?? null,
    chain,
    name: input.name,
    description: input.description ?? null,
    status: "active",
    provenance: prov.selfAsserted,
    createdAt: now,
    revokedAt: null,
    revokeReason: null,
    enrollmentId: null,
    // A sub-agent's authority is already bounded by its parent's grants (the parent hop).
    ceiling: null,
    verifiedProvenance: prov.verified,
    temporaryUntil: null,
    claimedAt: null,
  };
  try {
    await d.store.transaction(async (tx) => {
      await consumeStatement(tx, prov.use, now);
      await tx.agents.create(record, keys);
      await d.audit.record(
        {
          action: "agent.created",
          decision: "allowed",
          actor: actorOf(caller),
          target: id,
          details: {
            principal: principal.id,
            parent: record.parentId,
            keys: keys.map((k) => k.kid),
            ...provenanceDetails(record),
          },
        },
        tx,
      );
    });
  } catch (e) {
    await refuseStatement(d, caller, input.principal, e);
    throw e;
  }
  return record;
}

/**
 * A refused software statement (forged, bound to another key, replayed) is audited as
 * `agent.create_refused`, as enrollment and temporary registrations audit theirs: a statement
 * bound to someone else's key or used twice is how a leaked one shows.
 */
async function refuseStatement(d: Deputy, caller: Caller, principal: string, e: unknown): Promise<void> {
  if (!(e instanceof DeputyError && e.code.startsWith("ERR_STATEMENT"))) return;
  await d.audit.record({
    action: "agent.create_refused",
    decision: "denied",
    actor: actorOf(caller),
    target: null,
    details: { principal, error: e.code },
  });
}

export async function getAgent(d: Deputy, caller: Caller, id: string): Promise<AgentRecord> {
  const agent = await d.store.agents.get(id);
  if (!agent || !canSeeAgent(caller, agent)) throw notFound("agent", id);
  return agent;
}

export async function listAgents(
  d: Deputy,
  caller: Caller,
  filter: { principal?: string | undefined; status?: AgentStatus | undefined; parent?: string | undefined },
  page: PageRequest,
): Promise<Page<AgentRecord>> {
  let principalId = filter.principal;
  let parentId = filter.parent;
  if (caller.kind === "principal") {
    if (principalId !== undefined && principalId !== caller.principalId) return { items: [], hasMore: false };
    principalId = caller.principalId;
  }
  if (caller.kind === "agent") {
    // An agent lists its direct sub-agents (or those of a visible descendant).
    principalId = caller.principalId;
    if (parentId === undefined) parentId = caller.agentId;
    else await getAgent(d, caller, parentId);
  }
  return d.store.agents.list({ principalId, status: filter.status, parentId }, page);
}

export async function listAgentKeys(d: Deputy, caller: Caller, id: string): Promise<AgentKeyRecord[]> {
  await getAgent(d, caller, id);
  return d.store.agents.keys(id);
}

export async function addAgentKey(
  d: Deputy,
  caller: Caller,
  id: string,
  jwk: unknown,
): Promise<AgentKeyRecord> {
  const agent = await getAgent(d, caller, id);
  requireDelegatingAgent(caller, agent, "add keys");
  if (agent.status !== "active") throw new DeputyError("ERR_AGENT_REVOKED", `agent ${id} is revoked`);
  // A key-bound statement vouched for one key. Another key added by whoever manages the agent
  // (perhaps after registering it with a leaked statement and the launched agent's public key)
  // would carry the label without its launcher's word.
  if (agent.verifiedProvenance?.bound) {
    throw new DeputyError(
      "ERR_CONFLICT",
      `agent ${id} has provenance bound to its key: register a new agent with a statement bound to the new key`,
    );
  }
  const [key] = importAgentKeys(id, [jwk], d.clock.now());
  await d.store.transaction(async (tx) => {
    const active = await tx.agents.keys(id);
    if (active.length >= MAX_KEYS_PER_AGENT) {
      throw new DeputyError("ERR_INVALID_REQUEST", `an agent may hold at most ${MAX_KEYS_PER_AGENT} keys`);
    }
    await tx.agents.addKey(key!);
    await d.audit.record(
      {
        action: "agent.key_added",
        decision: "allowed",
        actor: actorOf(caller),
        target: id,
        details: { kid: key!.kid },
      },
      tx,
    );
  });
  return key!;
}

export async function removeAgentKey(d: Deputy, caller: Caller, id: string, kid: string): Promise<void> {
  requireDelegatingAgent(caller, await getAgent(d, caller, id), "remove keys");
  await d.store.transaction(async (tx) => {
    const active = await tx.agents.keys(id);
    if (!active.some((k) => k.kid === kid)) throw notFound("key", kid);
    if (active.length === 1) {
      throw new DeputyError(
        "ERR_LAST_KEY",
        "add another key before removing the last one, or revoke the agent",
      );
    }
    await tx.agents.removeKey(id, kid, d.clock.now());
    await d.audit.record(
      {
        action: "agent.key_removed",
        decision: "allowed",
        actor: actorOf(caller),
        target: id,
        details: { kid },
      },
      tx,
    );
  });
}
