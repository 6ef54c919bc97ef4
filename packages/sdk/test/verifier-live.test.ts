/**
 * The SDK verifier against a real Deputy (a listening server, real clock): tokens minted by
 * `/oauth/token` verify, revocations arrive over the real event stream and refuse tokens the
 * verifier has never seen, and the real status list is parsed and checked.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { deputyNodeAuth } from "../src/middleware/node.js";
import { loadAgent } from "../src/node.js";
import { createVerifier, type Verifier } from "../src/verifier.js";
import { type LiveDeputy, startLiveDeputy } from "./support/live-deputy.js";

/** These tests are about the token alone; the DPoP proof is the subject of other tests. */
const ELSEWHERE = { dpop: "checked-elsewhere" } as const;

describe("verifier against a real Deputy", () => {
  let live: LiveDeputy;
  let api: Server;
  let apiUrl: string;
  let verifier: Verifier;
  const errors: string[] = [];
  const audience = "https://tickets.example.test";
  let principal: string;

  beforeAll(async () => {
    live = await startLiveDeputy();
    principal = await live.principal();
    const res = await live.resource(audience);
    verifier = createVerifier({
      issuer: live.issuer,
      audience,
      resourceId: res.id,
      resourceSecret: res.secret,
      revocation: { coverageMarginMs: 0 },
      onError: (e) => errors.push(e.code ?? e.message),
    });
    await verifier.start();
    await vi.waitFor(() => expect(verifier.health().streamConnected).toBe(true));
    const auth = deputyNodeAuth({ verifier, requiredScope: "tickets:read" });
    api = createServer(async (req, res) => {
      const who = await auth(req, res);
      if (!who) return;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({ agent: who.agent, principal: who.principal, chain: who.chain, scope: who.scope }),
      );
    });
    api.listen(0, "127.0.0.1");
    await once(api, "listening");
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await verifier?.close();
    await new Promise((r) => api?.close(r));
    await live?.close();
  });

  it("an agent from a key file calls the API; the caller is attached", async () => {
    const a = await live.agent({ principal, scopes: ["tickets:read"], resources: [audience] });
    const agent = await loadAgent(a.keyFile);
    const res = await agent.fetch(`${apiUrl}/tickets`, {}, { resource: audience, scope: "tickets:read" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: a.id, principal, chain: [], scope: ["tickets:read"] });
  });

  it("a real status list verifies; a revoked token's bit refuses it (stream not consulted for old tokens)", async () => {
    const a = await live.agent({ principal, scopes: ["tickets:read"], resources: [audience] });
    const token = await a.agent.getToken({ resource: audience });
    const streamless = createVerifier({
      issuer: live.issuer,
      audience,
      onError: (e) => errors.push(e.code ?? e.message),
    });
    await streamless.verifyToken(token.access_token, ELSEWHERE);
    await live.api("POST", "/v1/revocations", { target: a.id, reason: "test" });
    // The list is cached for its ttl; a fresh verifier fetches the new one.
    const fresh = createVerifier({ issuer: live.issuer, audience });
    await expect(fresh.verifyToken(token.access_token, ELSEWHERE)).rejects.toMatchObject({
      code: "ERR_TOKEN_REVOKED",
    });
  });

  it("revoking an agent over /v1 refuses its next call through the stream within a second, for a never-seen token", async () => {
    const a = await live.agent({ principal, scopes: ["tickets:read"], resources: [audience] });
    await new Promise((r) => setTimeout(r, 1100)); // iat strictly after the stream connected
    const ok = await a.agent.fetch(`${apiUrl}/tickets`, {}, { resource: audience });
    expect(ok.status).toBe(200);
    // A second token (another cache key), minted before the revocation and never shown to the verifier.
    const unseen = { resource: audience, scope: "tickets:read" };
    const token = await a.agent.getToken(unseen);
    const t0 = Date.now();
    await live.api("POST", `/v1/agents/${a.id}/revoke`, { reason: "compromised" });
    await vi.waitFor(
      async () => {
        const res = await a.agent.fetch(`${apiUrl}/tickets`, {}, unseen);
        expect(res.status).toBe(401);
        expect((await res.json()).code).toBe("ERR_TOKEN_REVOKED");
      },
      { timeout: 1000, interval: 20 },
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await a.agent.getToken(unseen)).access_token).toBe(token.access_token);
  });

  it("delegation: the sub-agent's calls carry the chain; revoking the parent refuses the sub-agent", async () => {
    const parent = await live.agent({
      principal,
      scopes: ["tickets:read", "tickets:write"],
      resources: [audience],
      depth: 1,
    });
    const child = await live.agent({ principal, parent: parent.id, name: "summarizer" });
    await new Promise((r) => setTimeout(r, 1100));
    const sub = await parent.agent.delegate(child.agent, { scope: "tickets:read", resource: audience });
    const res = await sub.fetch(`${apiUrl}/tickets`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      agent: child.id,
      principal,
      chain: [parent.id],
      scope: ["tickets:read"],
    });
    await live.api("POST", `/v1/agents/${parent.id}/revoke`, {});
    await vi.waitFor(
      async () => {
        const r = await sub.fetch(`${apiUrl}/tickets`);
        expect(r.status).toBe(401);
      },
      { timeout: 1000, interval: 20 },
    );
  });

  it("stream errors so far are only the expected kinds", () => {
    expect(errors.filter((c) => !c.startsWith("ERR_EVENT_STREAM"))).toEqual([]);
  });
});
