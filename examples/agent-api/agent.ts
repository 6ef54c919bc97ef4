/**
 * The agent of the agent-api example: loads its key file (five lines of setup), files tickets,
 * delegates read access to a sub-agent, and keeps working until Deputy revokes it — at which
 * point its very next call is refused.
 *
 * @example
 * const log = await runAgent({ keyFile, subAgentKeyFile, apiUrl, audience, intervalMs: 50 });
 */
import { loadAgent } from "@deputy/sdk/node";

export interface AgentRunConfig {
  keyFile: string;
  subAgentKeyFile: string;
  apiUrl: string;
  audience: string;
  intervalMs?: number;
  /** Stop after this many rounds even if nothing is refused. */
  maxRounds?: number;
  onRound?: (round: number) => void | Promise<void>;
}

export interface CallRecord {
  at: number;
  who: "agent" | "sub-agent";
  status: number;
  body: unknown;
}

export async function runAgent(config: AgentRunConfig): Promise<CallRecord[]> {
  // The five lines an agent developer writes:
  const agent = await loadAgent(config.keyFile);
  const resource = { resource: config.audience, scope: "tickets:read tickets:write" };
  const res = await agent.fetch(
    `${config.apiUrl}/tickets`,
    {
      method: "POST",
      body: JSON.stringify({ title: "hello" }),
      headers: { "content-type": "application/json" },
    },
    resource,
  );
  console.log(res.status, await res.json());

  const log: CallRecord[] = [];
  const subAgent = await loadAgent(config.subAgentKeyFile);
  const summarizer = await agent.delegate(subAgent, { scope: "tickets:read", resource: config.audience });
  for (let round = 1; round <= (config.maxRounds ?? 1_000); round++) {
    const mine = await agent.fetch(
      `${config.apiUrl}/tickets`,
      {
        method: "POST",
        body: JSON.stringify({ title: `ticket ${round}` }),
        headers: { "content-type": "application/json" },
      },
      resource,
    );
    log.push({ at: Date.now(), who: "agent", status: mine.status, body: await mine.json() });
    const theirs = await summarizer.fetch(`${config.apiUrl}/tickets`);
    log.push({ at: Date.now(), who: "sub-agent", status: theirs.status, body: await theirs.json() });
    if (mine.status !== 201 || theirs.status !== 200) break; // revoked: stop working
    await config.onRound?.(round);
    await new Promise((r) => setTimeout(r, config.intervalMs ?? 100));
  }
  return log;
}
