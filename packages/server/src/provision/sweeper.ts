/**
 * The temporary-agent sweeper: revokes and removes temporary agents whose claim window closed
 * unclaimed. It works in batches of `sweepBatch`, one transaction each, and after each batch it
 * pauses so that it holds the store at most `sweepDutyCycle` of the time: on SQLite every
 * transaction (and read) shares one connection, so back-to-back batches would queue token
 * issuance behind them (measured: p99 × 12 with no pause; see docs/benchmarks.md).
 * Each batch is one audit entry (`agent.swept`) listing the agents it removed.
 *
 * @example
 * const swept = await sweepTemporaryAgents(deputy); // number of agents removed
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Deputy } from "../context.js";
import { appendRevocationEvent, publishRevocation, revokeAgentsIn } from "../identity/cascade.js";

export const SWEEP_REASON = "temporary agent expired unclaimed";
/** The `target` of a sweep's revocation event (a batch of agents, not one id). */
export const SWEEP_TARGET = "temporary-agent-sweep";

/** Sweeps everything expired at `now`; answers how many agents were removed. */
export async function sweepTemporaryAgents(
  d: Deputy,
  opts: { now?: number; batch?: number; maxBatches?: number; dutyCycle?: number } = {},
): Promise<number> {
  const now = opts.now ?? d.clock.now();
  const batch = opts.batch ?? d.config.sweepBatch;
  const duty = Math.min(1, Math.max(0.01, opts.dutyCycle ?? d.config.sweepDutyCycle));
  let total = 0;
  for (let i = 0; i < (opts.maxBatches ?? Number.POSITIVE_INFINITY); i++) {
    const t0 = performance.now();
    const swept = await d.store.transaction(async (tx) => {
      const candidates = await tx.agents.expiredTemporary(now, batch);
      if (candidates.length === 0) return null;
      // A claim may commit between that read and these writes (PostgreSQL, READ COMMITTED):
      // removeTemporary re-checks each row under its lock, and only what it took is revoked, so a
      // claimed agent is never swept.
      const ids = await tx.agents.removeTemporary(candidates, now);
      if (ids.length === 0) return { raced: true as const };
      const changed = await revokeAgentsIn(tx, ids, now, SWEEP_REASON);
      await d.audit.record(
        {
          action: "agent.swept",
          decision: "allowed",
          actor: { agent: null, chain: [], principal: null, kind: "system" },
          details: {
            reason: SWEEP_REASON,
            count: ids.length,
            agents: ids,
            revoked: {
              agents: changed.agents.length,
              grants: changed.grants.length,
              tokens: changed.tokens.length,
            },
          },
        },
        tx,
      );
      return { ...changed, ...(await appendRevocationEvent(tx, now, SWEEP_TARGET, SWEEP_REASON, changed)) };
    });
    if (swept === null) break;
    if ("raced" in swept) continue;
    await publishRevocation(d, now, SWEEP_TARGET, SWEEP_REASON, swept);
    total += swept.agents.length;
    // Busy for `elapsed`, then idle so that busy ÷ (busy + idle) ≤ duty.
    const elapsed = performance.now() - t0;
    await sleep(Math.max(1, (elapsed * (1 - duty)) / duty));
  }
  return total;
}
