/**
 * Runs the agent-api example end to end against a real Deputy: the agent files tickets, its
 * sub-agent reads them with a delegated token, and when an admin revokes the agent mid-run its
 * next call (and the sub-agent's) is refused within a second.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LiveDeputy, startLiveDeputy } from "../../packages/sdk/test/support/live-deputy.js";
import { runAgent } from "./agent.js";
import { startApi } from "./api.js";

describe("examples/agent-api", () => {
  let live: LiveDeputy;
  let api: Awaited<ReturnType<typeof startApi>>;
  const audience = "https://tickets.example.test";

  beforeAll(async () => {
    live = await startLiveDeputy();
  });
  afterAll(async () => {
    await api?.close();
    await live?.close();
  });

  it("an agent calls the API, delegates to a sub-agent, and is revoked mid-run", async () => {
    const principal = await live.principal("Ada");
    const resource = await live.resource(audience);
    const parent = await live.agent({
      principal,
      name: "triage",
      scopes: ["tickets:read", "tickets:write"],
      resources: [audience],
    });
    const child = await live.agent({ principal, name: "summarizer", parent: parent.id });
    api = await startApi({
      issuer: live.issuer,
      audience,
      resourceId: resource.id,
      resourceSecret: resource.secret,
    });

    let revokedAt = 0;
    const log = await runAgent({
      keyFile: parent.keyFile,
      subAgentKeyFile: child.keyFile,
      apiUrl: api.url,
      audience,
      intervalMs: 20,
      maxRounds: 200,
      onRound: async (round) => {
        if (round === 5) {
          await live.api("POST", `/v1/agents/${parent.id}/revoke`, { reason: "mid-run" });
          revokedAt = Date.now();
        }
      },
    });

    const ok = log.filter((c) => c.status < 300);
    expect(ok.filter((c) => c.who === "agent")).toHaveLength(5);
    expect(ok.find((c) => c.who === "sub-agent")?.body).toMatchObject({
      caller: child.id,
      chain: [parent.id],
    });
    expect(api.tickets.slice(0, 2)).toMatchObject([
      { by: parent.id, for: principal },
      { by: parent.id, for: principal },
    ]);
    const refused = log.find((c) => c.status === 401);
    expect(refused).toMatchObject({ who: "agent", body: { code: "ERR_TOKEN_REVOKED" } });
    expect(refused!.at - revokedAt).toBeLessThan(1000);
    // The sub-agent acted through the revoked parent: refused too.
    expect(log.at(-1)).toMatchObject({ who: "sub-agent", status: 401 });
  });
});
