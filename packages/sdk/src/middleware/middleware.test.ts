/**
 * One suite, four frameworks: each middleware runs in a real server on 127.0.0.1 and must give
 * the same answers (caller attached; 401 with the DPoP challenge; 403 insufficient_scope).
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIENCE, dpopProof, fakeIssuer, ISSUER } from "../test-support/fake-issuer.js";
import { createVerifier } from "../verifier/verifier.js";
import type { DeputyCaller, DeputyMiddlewareOptions } from "./common.js";
import { deputyExpress } from "./express.js";
import { deputyFastify } from "./fastify.js";
import { deputyHono } from "./hono.js";
import { deputyNodeAuth } from "./node.js";

const who = (d: DeputyCaller) => ({
  principal: d.principal,
  agent: d.agent,
  chain: d.chain,
  scope: d.scope,
  tokenId: d.tokenId,
  grantId: d.grantId,
});

type Start = (o: DeputyMiddlewareOptions) => Promise<{ url: string; close: () => Promise<void> }>;

async function listen(server: Server): Promise<{ url: string; close: () => Promise<void> }> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

const frameworks: Record<string, Start> = {
  "node:http": async (o) => {
    const auth = deputyNodeAuth(o);
    return listen(
      createServer(async (req, res) => {
        const caller = await auth(req, res);
        if (!caller) return;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(who(req.deputy!)));
      }),
    );
  },
  express: async (o) => {
    const app = express();
    app.use(deputyExpress(o));
    app.get("/tickets", (req, res) => {
      res.json(who(req.deputy!));
    });
    return listen(createServer(app));
  },
  fastify: async (o) => {
    const app = Fastify();
    app.addHook("onRequest", deputyFastify(o));
    app.get("/tickets", async (request) => who((request as unknown as { deputy: DeputyCaller }).deputy));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  hono: async (o) => {
    const app = new Hono<{ Variables: { deputy: DeputyCaller } }>();
    app.use(deputyHono(o));
    app.get("/tickets", (c) => c.json(who(c.get("deputy"))));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }) as unknown as Server;
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
  },
};

for (const [name, start] of Object.entries(frameworks)) {
  describe(`middleware: ${name}`, () => {
    const d = fakeIssuer();
    d.clock.now = Date.now();
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      fetch: d.fetch,
      now: () => d.clock.now,
    });
    let server: { url: string; close: () => Promise<void> };
    beforeAll(async () => {
      server = await start({
        verifier,
        requiredScope: (method) => (method === "POST" ? "write" : "read"),
        resourceMetadata: "https://api.test/.well-known/oauth-protected-resource",
      });
    });
    afterAll(async () => {
      await server.close();
      await verifier.close();
    });
    const call = (token: string | null, o: { method?: string; proofUrl?: string } = {}) => {
      const method = o.method ?? "GET";
      const url = `${server.url}/tickets`;
      const headers: Record<string, string> = {};
      if (token !== null) {
        headers.authorization = `DPoP ${token}`;
        headers.dpop = dpopProof(d.agentKey, {
          htm: method,
          htu: o.proofUrl ?? url,
          iat: Math.floor(d.clock.now / 1000),
          token,
        });
      }
      return fetch(url, { method, headers });
    };

    it("attaches principal, agent, chain, scope, tokenId and grantId", async () => {
      const token = d.token({ scope: "read", act: { sub: "agt_deployer", act: { sub: "agt_lead" } } });
      const res = await call(token);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        principal: "prn_ada",
        agent: "agt_deployer",
        chain: ["agt_lead"],
        scope: ["read"],
        grantId: "grt_1",
        tokenId: expect.stringMatching(/^tok_/),
      });
    });

    it("no token: 401 with a DPoP challenge and no error (RFC 6750 §3.1)", async () => {
      const res = await call(null);
      expect(res.status).toBe(401);
      const h = res.headers.get("www-authenticate")!;
      expect(h).toMatch(/^DPoP /);
      expect(h).not.toContain("error=");
      expect(h).toContain('algs="EdDSA ES256"');
      expect(h).toContain('resource_metadata="https://api.test/.well-known/oauth-protected-resource"');
    });

    it("an expired token: 401 invalid_token with a reason code", async () => {
      const res = await call(d.token({ exp: Math.floor(d.clock.now / 1000) - 60 }));
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
      expect(await res.json()).toMatchObject({ error: "invalid_token", code: "ERR_TOKEN_EXPIRED" });
    });

    it("a DPoP proof for another URL: 401 invalid_dpop_proof", async () => {
      const res = await call(d.token(), { proofUrl: "https://elsewhere.test/tickets" });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_dpop_proof"');
      expect((await res.json()).code).toBe("ERR_DPOP_HTU_MISMATCH");
    });

    it("a revoked token with a bad proof: 401 invalid_dpop_proof, never whether it was revoked", async () => {
      const revoked = d.token({ status: { status_list: { idx: 11, uri: `${ISSUER}/v1/status/lists/3` } } });
      d.revoked.set(3, [11]);
      const badProof = await call(revoked, { proofUrl: "https://elsewhere.test/tickets" });
      expect(badProof.status).toBe(401);
      expect(badProof.headers.get("www-authenticate")).toContain('error="invalid_dpop_proof"');
      expect(await badProof.json()).toEqual({
        error: "invalid_dpop_proof",
        error_description: "DPoP proof htu does not match the request URL",
        code: "ERR_DPOP_HTU_MISMATCH",
      });
      const noProof = await fetch(`${server.url}/tickets`, { headers: { authorization: `DPoP ${revoked}` } });
      expect(noProof.status).toBe(401);
      expect(await noProof.json()).toEqual({
        error: "invalid_dpop_proof",
        error_description: "the DPoP proof header is missing",
        code: "ERR_DPOP_MISSING",
      });
      // With its proof, the holder of the key learns that it was revoked.
      const held = await call(revoked);
      expect(held.status).toBe(401);
      expect(await held.json()).toEqual({
        error: "invalid_token",
        error_description: "the access token has been revoked (status list)",
        code: "ERR_TOKEN_REVOKED",
      });
    });

    it("missing scope: 403 insufficient_scope naming the scope", async () => {
      const res = await call(d.token({ scope: "read" }), { method: "POST" });
      expect(res.status).toBe(403);
      const h = res.headers.get("www-authenticate")!;
      expect(h).toContain('error="insufficient_scope"');
      expect(h).toContain('scope="write"');
    });
  });
}

describe("requestUrl keeps the request's own origin", () => {
  it("for a path starting with // and for an absolute-form request target", async () => {
    const { requestUrl } = await import("./common.js");
    expect(requestUrl({}, "//evil.example/t?x=1", { host: "api.example.com" }, true)).toBe(
      "https://api.example.com//evil.example/t?x=1",
    );
    expect(requestUrl({}, "https://evil.example/t", { host: "api.example.com" }, true)).toBe(
      "https://api.example.com/t",
    );
    expect(requestUrl({ baseUrl: "https://api.example.com" }, "//evil.example/t", {}, false)).toBe(
      "https://api.example.com//evil.example/t",
    );
  });
});
