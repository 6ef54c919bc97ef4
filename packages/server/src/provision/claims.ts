/**
 * Claiming a temporary agent: a human principal presents the claim code (with their own principal
 * token) and the agent becomes theirs: it and its grants move to the principal, its sandbox
 * ceiling is lifted (the principal may now grant it more), and audit queries for the principal
 * find what it did before the claim too (through `agent_claims`; entries are never rewritten).
 *
 * @example
 * const agent = await claimAgent(deputy, { kind: "principal", principalId: "prn_…" }, "dcl_…");
 */
import { DeputyError } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { hashSecret } from "../crypto/secrets.js";
import { actorOf, type Caller } from "../identity/caller.js";
import type { AgentRecord } from "../store/index.js";

export async function claimAgent(d: Deputy, caller: Caller, code: string): Promise<AgentRecord> {
  if (caller.kind !== "principal") {
    throw new DeputyError("ERR_FORBIDDEN", "a temporary agent is claimed with a human principal's token");
  }
  const principal = await d.store.principals.get(caller.principalId);
  if (principal?.type !== "human") {
    throw new DeputyError("ERR_FORBIDDEN", "only a human principal can claim a temporary agent");
  }
  const agent = await d.store.agents.getByClaimCodeHash(hashSecret(code));
  if (!agent) {
    await refuse(d, caller, null, "ERR_NOT_FOUND");
    throw new DeputyError("ERR_NOT_FOUND", "unknown claim code");
  }
  const now = d.clock.now();
  const claimed = await d.store.transaction(async (tx) => {
    if (!(await tx.agents.claim(agent.id, principal.id, now))) return false;
    await d.audit.record(
      {
        action: "agent.claimed",
        decision: "allowed",
        actor: actorOf(caller),
        target: agent.id,
        details: { from_principal: agent.principalId, principal: principal.id },
      },
      tx,
    );
    return true;
  });
  if (!claimed) {
    const current = (await d.store.agents.get(agent.id)) ?? agent;
    const e =
      current.claimedAt !== null
        ? new DeputyError("ERR_CLAIM_USED", `agent ${agent.id} was already claimed`)
        : new DeputyError("ERR_CLAIM_EXPIRED", `the claim window of agent ${agent.id} has closed`);
    await refuse(d, caller, agent.id, e.code);
    throw e;
  }
  return (await d.store.agents.get(agent.id))!;
}

async function refuse(d: Deputy, caller: Caller, agentId: string | null, code: string): Promise<void> {
  await d.audit.record({
    action: "agent.claim_refused",
    decision: "denied",
    actor: actorOf(caller),
    target: agentId,
    details: { error: code },
  });
}
