/**
 * An MCP client (official SDK) that authenticates as a Deputy agent: the transport's `fetch` is
 * the agent's, so every MCP request carries a DPoP-bound token for the server's resource and a
 * fresh proof.
 *
 * @example
 * const client = await connectAsAgent(agent, "http://127.0.0.1:3000/mcp", "notes:read notes:write");
 * const result = await client.callTool({ name: "whoami", arguments: {} });
 */
import type { DelegatedAgent, DeputyAgent } from "@deputy/sdk/agent";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

export async function connectAsAgent(
  agent: DeputyAgent | DelegatedAgent,
  url: string,
  scope?: string,
): Promise<Client> {
  const fetchAsAgent = (input: string | URL | Request, init?: RequestInit) => {
    const target = input instanceof Request ? input.url : String(input);
    if ("request" in agent) return agent.fetch(target, init);
    return agent.fetch(target, init, { resource: url, ...(scope !== undefined ? { scope } : {}) });
  };
  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: fetchAsAgent });
  const client = new Client({ name: "deputy-agent", version: "1.0.0" });
  await client.connect(transport);
  return client;
}
