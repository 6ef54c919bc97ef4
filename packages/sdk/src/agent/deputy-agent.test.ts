import { EmbeddedJWK, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { DeputyAgent } from "./deputy-agent.js";
import { DeputyClientError } from "./errors.js";
import { generateAgentKey } from "./jwk.js";

const issuer = "https://deputy.example";
const agentId = "agt_aaaaaaaaaaaaaaaaaaaaaaaaaa";

interface Seen {
  url: string;
  method: string;
  headers: Headers;
  form: URLSearchParams;
}

/** A token endpoint and resource that check what a real one checks, and record each request. */
async function fakeDeputy(opts: { nonce?: string; expiresIn?: number } = {}) {
  const key = await generateAgentKey();
  const verifyKey = await importJWK(key.publicJwk, "EdDSA");
  const seen: Seen[] = [];
  let minted = 0;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    const form = new URLSearchParams(typeof init?.body === "string" ? init.body : "");
    seen.push({ url, method: init?.method ?? "GET", headers, form });
    if (url === `${issuer}/oauth/token`) {
      await jwtVerify(form.get("client_assertion")!, verifyKey, { issuer: agentId, audience: issuer });
      const proof = await jwtVerify(headers.get("dpop")!, EmbeddedJWK, { typ: "dpop+jwt" });
      if (opts.nonce && proof.payload.nonce !== opts.nonce) {
        return Response.json(
          { error: "use_dpop_nonce", error_description: "send the nonce" },
          { status: 400, headers: { "dpop-nonce": opts.nonce } },
        );
      }
      if (form.get("scope") === "forbidden") {
        return Response.json(
          { error: "invalid_scope", error_description: "scope not granted" },
          { status: 400 },
        );
      }
      minted++;
      return Response.json({
        access_token: `tok-${minted}`,
        token_type: "DPoP",
        expires_in: opts.expiresIn ?? 300,
        scope: form.get("scope") ?? "all",
      });
    }
    if (url.startsWith(`${issuer}/v1/`)) {
      if (url.endsWith("/missing")) {
        return new Response(
          JSON.stringify({
            type: "not-found",
            title: "Not found",
            status: 404,
            detail: "no agent",
            code: "ERR_NOT_FOUND",
          }),
          { status: 404, headers: { "content-type": "application/problem+json" } },
        );
      }
      return Response.json({ ok: true });
    }
    if (url === "https://api.example/needs-nonce") {
      const proof = await jwtVerify(headers.get("dpop")!, EmbeddedJWK, { typ: "dpop+jwt" });
      if (proof.payload.nonce !== "rs-nonce") {
        return new Response(null, {
          status: 401,
          headers: { "www-authenticate": 'DPoP error="use_dpop_nonce"', "dpop-nonce": "rs-nonce" },
        });
      }
    }
    return new Response("ok");
  };
  return { key, seen, fetch, minted: () => minted };
}

describe("DeputyAgent", () => {
  it("mints with private_key_jwt and DPoP, and caches per (scope, resource)", async () => {
    const d = await fakeDeputy();
    const agent = new DeputyAgent({
      issuer: `${issuer}/`,
      agentId,
      privateJwk: d.key.privateJwk,
      fetch: d.fetch,
    });
    const a = await agent.getToken({ resource: "https://api.example", scope: "read" });
    const b = await agent.getToken({ resource: "https://api.example", scope: "read" });
    const c = await agent.getToken({ resource: "https://api.example", scope: "write" });
    expect(a).toBe(b);
    expect(c.access_token).toBe("tok-2");
    expect(a.expires_at - Math.floor(Date.now() / 1000)).toBeGreaterThan(290);
    const form = d.seen[0]!.form;
    expect(Object.fromEntries(form)).toMatchObject({
      grant_type: "client_credentials",
      scope: "read",
      resource: "https://api.example",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    });
  });

  it("refreshes a token within 30 s of expiry", async () => {
    const d = await fakeDeputy({ expiresIn: 20 });
    const agent = new DeputyAgent({ issuer, agentId, privateJwk: d.key.privateJwk, fetch: d.fetch });
    await agent.getToken({ resource: "r" });
    await agent.getToken({ resource: "r" });
    expect(d.minted()).toBe(2);
  });

  it("retries once with the server's DPoP nonce", async () => {
    const d = await fakeDeputy({ nonce: "server-nonce" });
    const agent = new DeputyAgent({ issuer, agentId, privateJwk: d.key.privateJwk, fetch: d.fetch });
    const token = await agent.getToken({ resource: "r" });
    expect(token.access_token).toBe("tok-1");
    expect(d.seen).toHaveLength(2);
  });

  it("throws DeputyClientError with the OAuth error or the problem code", async () => {
    const d = await fakeDeputy();
    const agent = new DeputyAgent({ issuer, agentId, privateJwk: d.key.privateJwk, fetch: d.fetch });
    const oauth = await agent.getToken({ resource: "r", scope: "forbidden" }).catch((e: unknown) => e);
    expect(oauth).toBeInstanceOf(DeputyClientError);
    expect(oauth).toMatchObject({ status: 400, code: "invalid_scope", message: "scope not granted" });
    const problem = await agent.callApi("GET", "/v1/agents/missing").catch((e: unknown) => e);
    expect(problem).toMatchObject({ status: 404, code: "ERR_NOT_FOUND", message: "no agent" });
  });

  it("fetch() sends Authorization: DPoP and a proof bound to the request and the token", async () => {
    const d = await fakeDeputy();
    const agent = new DeputyAgent({ issuer, agentId, privateJwk: d.key.privateJwk, fetch: d.fetch });
    await agent.fetch(
      "https://api.example/tickets?x=1",
      { method: "post", body: "{}" },
      { resource: "https://api.example" },
    );
    const call = d.seen.at(-1)!;
    expect(call.headers.get("authorization")).toBe("DPoP tok-1");
    const { payload } = await jwtVerify(call.headers.get("dpop")!, EmbeddedJWK, { typ: "dpop+jwt" });
    expect(payload).toMatchObject({
      htm: "POST",
      htu: "https://api.example/tickets",
      ath: expect.any(String),
    });
  });

  it("fetch() retries once with a resource server's DPoP nonce (RFC 9449 §9)", async () => {
    const d = await fakeDeputy();
    const agent = new DeputyAgent({ issuer, agentId, privateJwk: d.key.privateJwk, fetch: d.fetch });
    const res = await agent.fetch("https://api.example/needs-nonce", {}, { resource: "https://api.example" });
    expect(res.status).toBe(200);
    expect(d.seen.map((c) => c.url)).toEqual([
      `${issuer}/oauth/token`,
      "https://api.example/needs-nonce",
      "https://api.example/needs-nonce",
    ]);
  });

  it("callApi() uses a token whose resource is the issuer", async () => {
    const d = await fakeDeputy();
    const agent = new DeputyAgent({ issuer, agentId, privateJwk: d.key.privateJwk, fetch: d.fetch });
    expect(await agent.callApi("POST", "/v1/agents", { name: "x" })).toEqual({ ok: true });
    expect(d.seen[0]!.form.get("resource")).toBe(issuer);
    const call = d.seen.at(-1)!;
    expect(call.headers.get("content-type")).toBe("application/json");
    const { payload } = await jwtVerify(call.headers.get("dpop")!, EmbeddedJWK);
    expect(payload.htu).toBe(`${issuer}/v1/agents`);
  });
});
