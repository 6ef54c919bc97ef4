/**
 * The protected API of the agent-api example: an Express app whose routes need Deputy tokens.
 * One middleware line per route; `req.deputy` says which agent calls, for whom, through which
 * chain of parents, with which scopes.
 *
 * @example
 * const api = await startApi({ issuer, audience, resourceId, resourceSecret, port: 8080 });
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { deputyExpress } from "@deputy/sdk/middleware/express";
import { createVerifier } from "@deputy/sdk/verifier";
import express from "express";

export interface ApiConfig {
  issuer: string;
  audience: string;
  resourceId: string;
  resourceSecret: string;
  port?: number;
}

export async function startApi(config: ApiConfig) {
  const verifier = createVerifier({
    issuer: config.issuer,
    audience: config.audience,
    resourceId: config.resourceId,
    resourceSecret: config.resourceSecret,
  });
  await verifier.start();

  const tickets: Array<{ id: number; title: string; by: string; for: string }> = [];
  const app = express();
  app.use(express.json());
  app.get("/tickets", deputyExpress({ verifier, requiredScope: "tickets:read" }), (req, res) => {
    res.json({ caller: req.deputy!.agent, chain: req.deputy!.chain, tickets });
  });
  app.post("/tickets", deputyExpress({ verifier, requiredScope: "tickets:write" }), (req, res) => {
    const { agent, principal } = req.deputy!;
    const ticket = {
      id: tickets.length + 1,
      title: String(req.body?.title ?? "untitled"),
      by: agent,
      for: principal,
    };
    tickets.push(ticket);
    res.status(201).json(ticket);
  });

  const server = createServer(app);
  server.listen(config.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    verifier,
    tickets,
    async close() {
      await verifier.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
