/**
 * A Deputy-protected MCP server (official `@modelcontextprotocol/sdk`, Streamable HTTP): RFC 9728
 * metadata at `/.well-known/oauth-protected-resource/mcp`, `WWW-Authenticate` challenges that
 * point MCP clients at it, and each tool handler knows which agent calls, for whom, and through
 * which chain of parent agents.
 *
 * @example
 * const mcp = await startMcpServer({ issuer, resourceId, resourceSecret, port: 3000 });
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { deputyCallerOf, deputyMcp, requireScope } from "@deputy/sdk/mcp";
import { createVerifier } from "@deputy/sdk/verifier";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

export interface McpServerConfig {
  issuer: string;
  resourceId: string;
  resourceSecret: string;
  port: number;
}

/** The MCP server and its tools; one per request (the transport runs stateless). */
function buildServer(notes: string[]): McpServer {
  const server = new McpServer({ name: "deputy-notes", version: "1.0.0" });
  server.registerTool("whoami", { description: "Who is calling, as Deputy verified it" }, async (extra) => {
    const { agent, principal, chain, scope } = deputyCallerOf(extra);
    return { content: [{ type: "text", text: JSON.stringify({ agent, principal, chain, scope }) }] };
  });
  server.registerTool(
    "add_note",
    { description: "Adds a note (needs notes:write)", inputSchema: { text: z.string().max(200) } },
    async ({ text }, extra) => {
      const who = deputyCallerOf(extra);
      requireScope(who, "notes:write");
      notes.push(`${who.agent} for ${who.principal}: ${text}`);
      return { content: [{ type: "text", text: `noted (${notes.length})` }] };
    },
  );
  return server;
}

export async function startMcpServer(config: McpServerConfig) {
  const resource = `http://127.0.0.1:${config.port}/mcp`;
  const verifier = createVerifier({
    issuer: config.issuer,
    audience: resource,
    resourceId: config.resourceId,
    resourceSecret: config.resourceSecret,
  });
  await verifier.start();
  const mcp = deputyMcp({
    verifier,
    resource,
    scopesSupported: ["notes:read", "notes:write"],
    resourceName: "Deputy notes",
  });
  const notes: string[] = [];

  const http = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === mcp.metadataPath) return mcp.sendMetadata(res);
    if (path !== "/mcp") return void res.writeHead(404).end();
    if (!(await mcp.authenticateNode(req, res))) return; // 401/403 with the challenge already sent
    // No sessionIdGenerator: stateless, one transport and server per request.
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    const server = buildServer(notes);
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res); // the transport hands req.auth to tools as extra.authInfo
  });
  http.listen(config.port, "127.0.0.1");
  await once(http, "listening");
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    resource,
    mcp,
    notes,
    async close() {
      await verifier.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}
