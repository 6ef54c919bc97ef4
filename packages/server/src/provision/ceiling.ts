/**
 * Agent ceilings (DESIGN §1: effective authority = principal's grant ∩ agent ceiling ∩ parent hop
 * ∩ request). An enrolled agent is capped by its enrollment, a temporary agent by the sandbox
 * until it is claimed: no grant to it may hold a scope or resource outside its ceiling.
 *
 * @example
 * checkWithinCeiling(agent, ["read"], ["https://api.example"]); // throws ERR_AGENT_CEILING if not
 */
import { DeputyError } from "@deputy/protocol";
import type { AgentRecord } from "../store/index.js";

/** Throws ERR_AGENT_CEILING naming the first scope or resource outside the agent's ceiling. */
export function checkWithinCeiling(
  agent: Pick<AgentRecord, "id" | "ceiling" | "temporaryUntil">,
  scopes: readonly string[],
  resources: readonly string[],
): void {
  const c = agent.ceiling;
  if (c === null) return;
  const what =
    agent.temporaryUntil !== null ? "the sandbox of this unclaimed temporary agent" : "its enrollment";
  const scope = scopes.find((s) => !c.scopes.includes(s));
  if (scope !== undefined) {
    throw new DeputyError("ERR_AGENT_CEILING", `scope ${scope} is outside ${what} (agent ${agent.id})`, {
      extra: { ceiling: c },
    });
  }
  const resource = resources.find((r) => !c.resources.includes(r));
  if (resource !== undefined) {
    throw new DeputyError(
      "ERR_AGENT_CEILING",
      `resource ${resource} is outside ${what} (agent ${agent.id})`,
      {
        extra: { ceiling: c },
      },
    );
  }
}
