/**
 * Runs the MCP example end to end: a real Deputy, the Deputy-protected MCP server, and the
 * official MCP client authenticating as a Deputy agent (and as a sub-agent it delegated to).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type LiveDeputy, startLiveDeputy } from "../../packages/sdk/test/support/live-deputy.js";
import { connectAsAgent } from "./client.js";
import { startMcpServer } from "./server.js";

describe("examples/mcp-server", () => {
  let live: LiveDeputy;
  let server: Awaited<ReturnType<typeof startMcpServer>>;
  let principal: string;

  beforeAll(async () => {
    live = await startLiveDeputy();
    principal = await live.principal("Ada");
    const port = await freePort();
    const res = await live.resource(`http://127.0.0.1:${port}/mcp`);
    server = await startMcpServer({
      issuer: live.issuer,
      resourceId: res.id,
      resourceSecret: res.secret,
      port,
    });
  });
  afterAll(async () => {
    await server?.close();
    await live?.close();
  });

  it("serves RFC 9728 protected resource metadata", async () => {
    const res = await fetch(new URL("/.well-known/oauth-protected-resource/mcp", server.url));
    expect(await res.json()).toEqual({
      resource: server.resource,
      authorization_servers: [live.issuer],
      scopes_supported: ["notes:read", "notes:write"],
      bearer_methods_supported: ["header"],
      dpop_signing_alg_values_supported: ["EdDSA", "ES256"],
      dpop_bound_access_tokens_required: true,
      resource_name: "Deputy notes",
    });
  });

  it("an unauthenticated MCP request gets 401 with resource_metadata in the challenge", async () => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
    });
    expect(res.status).toBe(401);
    const h = res.headers.get("www-authenticate")!;
    expect(h).toMatch(/^DPoP /);
    expect(h).toContain(`resource_metadata="${server.mcp.metadataUrl}"`);
  });

  it("the official MCP client, as a Deputy agent, calls tools that see agent, principal and chain", async () => {
    const parent = await live.agent({
      principal,
      name: "assistant",
      scopes: ["notes:read", "notes:write"],
      resources: [server.resource],
    });
    const client = await connectAsAgent(parent.agent, server.url, "notes:read notes:write");
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(["add_note", "whoami"]);
    const who = await client.callTool({ name: "whoami", arguments: {} });
    expect(JSON.parse((who.content as Array<{ text: string }>)[0]!.text)).toEqual({
      agent: parent.id,
      principal,
      chain: [],
      scope: ["notes:read", "notes:write"],
    });
    await client.callTool({ name: "add_note", arguments: { text: "hello" } });
    expect(server.notes).toEqual([`${parent.id} for ${principal}: hello`]);
    await client.close();

    // A read-only sub-agent: its chain shows the parent, and the write tool refuses it.
    const child = await live.agent({ principal, name: "reader", parent: parent.id });
    const sub = await parent.agent.delegate(child.agent, { scope: "notes:read", resource: server.resource });
    const subClient = await connectAsAgent(sub, server.url);
    const subWho = await subClient.callTool({ name: "whoami", arguments: {} });
    expect(JSON.parse((subWho.content as Array<{ text: string }>)[0]!.text)).toMatchObject({
      agent: child.id,
      chain: [parent.id],
    });
    const denied = await subClient.callTool({ name: "add_note", arguments: { text: "nope" } });
    expect(denied.isError).toBe(true);
    expect(JSON.stringify(denied.content)).toContain("notes:write");
    expect(server.notes).toHaveLength(1);
    await subClient.close();
  });

  it("a token for another resource is refused by the MCP server", async () => {
    const other = await live.resource("https://elsewhere.example.test");
    const a = await live.agent({ principal, scopes: ["notes:read"], resources: [other.audience] });
    const token = await a.agent.getToken({ resource: other.audience });
    const res = await a.agent.fetch(
      server.url,
      { method: "POST", body: "{}", headers: { "content-type": "application/json" } },
      { resource: other.audience },
    );
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe("ERR_TOKEN_AUDIENCE");
    expect(token.access_token).toBeTruthy();
  });
});
