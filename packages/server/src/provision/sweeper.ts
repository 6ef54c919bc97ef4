/**
 * The temporary-agent sweeper: revokes and removes temporary agents whose claim window closed
 * unclaimed. It works in batches of `sweepBatch`, one transaction each, and yields to the event
 * loop between batches, so token issuance keeps its latency while a large backlog is swept.
 * Each batch is one audit entry (`agent.swept`) listing the agents it removed.
 *
 * @example
 * const swept = await sweepTemporaryAgents(deputy); // number of agents removed
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { Deputy } from "../context.js";
import { revokeAgentsIn } from "../identity/cascade.js";

export const SWEEP_REASON = "temporary agent expired unclaimed";

/** Sweeps everything expired at `now`; answers how many agents were removed. */
export async function sweepTemporaryAgents(
  d: Deputy,
  opts: { now?: number; batch?: number; maxBatches?: number } = {},
): Promise<number> {
  const now = opts.now ?? d.clock.now();
  const batch = opts.batch ?? d.config.sweepBatch;
  let total = 0;
  for (let i = 0; i < (opts.maxBatches ?? Number.POSITIVE_INFINITY); i++) {
    const swept = await d.store.transaction(async (tx) => {
      const ids = await tx.agents.expiredTemporary(now, batch);
      if (ids.length === 0) return null;
      const changed = await revokeAgentsIn(tx, ids, now, SWEEP_REASON);
      await tx.agents.removeTemporary(ids);
      await d.audit.record(
        {
          action: "agent.swept",
          decision: "allowed",
          actor: { agent: null, chain: [], principal: null, kind: "system" },
          details: {
            reason: SWEEP_REASON,
            count: ids.length,
            agents: ids,
            revoked: { agents: changed.agents.length, grants: changed.grants.length, tokens: changed.tokens },
          },
        },
        tx,
      );
      return changed;
    });
    if (swept === null) break;
    d.revocations.add({ agents: swept.agents, grants: swept.grants });
    total += swept.agents.length;
    await yieldToLoop();
  }
  return total;
}
