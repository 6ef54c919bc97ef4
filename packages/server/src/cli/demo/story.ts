/**
 * The story of issue 2, told against a live server: principal, resource, agent with its own
 * key, grant; a 5-minute DPoP-bound token verified offline and by introspection; a sub-agent and
 * a narrower delegated token; then revoking the agent kills both tokens and both identities.
 *
 * @example
 * await tellStory(narrator, { url, adminToken });
 */
import { DeputyAgent, DeputyClientError, generateAgentKey } from "@deputy/sdk";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { describeClaims } from "../claims.js";
import { ApiClient } from "../client.js";
import { expectThat, type Narrator } from "./narrator.js";

const AUDIENCE = "https://tickets.example.com";

type Json = Record<string, unknown>;

async function introspect(url: string, resourceId: string, secret: string, token: string): Promise<Json> {
  const basic = btoa(`${encodeURIComponent(resourceId)}:${encodeURIComponent(secret)}`);
  const res = await fetch(`${url}/oauth/introspect`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
  if (!res.ok) throw await DeputyClientError.fromResponse(res);
  return (await res.json()) as Json;
}

async function refusal(agent: DeputyAgent): Promise<DeputyClientError> {
  agent.clearTokens();
  try {
    await agent.getToken({ resource: AUDIENCE });
  } catch (e) {
    if (e instanceof DeputyClientError && e.status >= 400 && e.status < 500) return e;
    throw e;
  }
  throw new Error(`the token endpoint still issued a token to ${agent.agentId}`);
}

export async function tellStory(n: Narrator, server: { url: string; adminToken: string }): Promise<void> {
  const { url } = server;
  const api = new ApiClient(url, server.adminToken, "the demo's admin token");
  const meta = await api.get<{ issuer: string; jwks_uri: string }>("/.well-known/oauth-authorization-server");

  const alice = await n.step("Register Alice, the human the agents will act for.", async () => {
    const p = await api.post<Json & { id: string }>("/v1/principals", {
      type: "human",
      name: "Alice",
      email: "alice@example.com",
    });
    return { details: [`principal ${p.id}`], value: p };
  });

  const resource = await n.step(`Register the ticket API the agent will call, ${AUDIENCE}.`, async () => {
    const r = await api.post<{ id: string; client_secret: string }>("/v1/resources", {
      audience: AUDIENCE,
      name: "Ticket API",
    });
    expectThat(r.client_secret, "no client_secret in the answer");
    return {
      details: [`resource ${r.id}; its introspection secret is shown once and stays with the API`],
      value: r,
    };
  });

  const triage = await n.step(
    'Create the agent "ticket-triage". Its Ed25519 key pair is generated here; only the public key goes to Deputy.',
    async () => {
      const key = await generateAgentKey();
      const a = await api.post<{ id: string }>("/v1/agents", {
        principal: alice.id,
        name: "ticket-triage",
        jwks: { keys: [key.publicJwk] },
      });
      const shown = await api.get<{ jwks: { keys: Json[] } }>(`/v1/agents/${a.id}`);
      expectThat(
        shown.jwks.keys.length === 1 && shown.jwks.keys[0]?.kid === key.kid && !("d" in shown.jwks.keys[0]),
        "the server does not hold exactly the agent's public key",
      );
      return {
        details: [`agent ${a.id}, key ${key.kid} (the server holds no private key)`],
        value: { ...a, key },
      };
    },
  );

  await n.step(
    "Alice grants it tickets:read and tickets:write on the ticket API for one hour, delegable one level down.",
    async () => {
      const g = await api.post<{ id: string }>("/v1/grants", {
        agent: triage.id,
        scopes: ["tickets:read", "tickets:write"],
        resources: [AUDIENCE],
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        max_delegation_depth: 1,
      });
      return { details: [`grant ${g.id}`], value: g };
    },
  );

  const parent = new DeputyAgent({
    issuer: meta.issuer,
    agentId: triage.id,
    privateJwk: triage.key.privateJwk,
  });
  const token = await n.step(
    "The agent asks for a token, proving its key (private_key_jwt) and binding the token to it (DPoP).",
    async () => {
      const t = await parent.getToken({ resource: AUDIENCE });
      const claims = decodeJwt(t.access_token);
      expectThat(t.token_type === "DPoP", `token_type is ${t.token_type}, not DPoP`);
      expectThat(t.expires_in <= 300, `the token lives ${t.expires_in} s, more than 5 minutes`);
      return { details: [`A ${t.expires_in}-second DPoP token says: ${describeClaims(claims)}.`], value: t };
    },
  );

  await n.step(
    "The ticket API verifies the token offline, with Deputy's published keys (JWKS).",
    async () => {
      const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
      const { payload, protectedHeader } = await jwtVerify(token.access_token, jwks, {
        issuer: meta.issuer,
        audience: AUDIENCE,
        typ: "at+jwt",
        algorithms: ["EdDSA", "ES256"],
      });
      expectThat(payload.sub === alice.id, "sub is not Alice");
      expectThat(payload.client_id === triage.id, "client_id is not the agent");
      const jkt = (payload.cnf as { jkt?: string } | undefined)?.jkt;
      expectThat(jkt === triage.key.kid, "cnf.jkt is not the agent's key thumbprint");
      return {
        details: [
          `Signature (${protectedHeader.alg}, kid ${protectedHeader.kid}), issuer, audience, expiry and typ at+jwt check out.`,
          `Bound to the agent's key: cnf.jkt = ${jkt}.`,
        ],
        value: undefined,
      };
    },
  );

  await n.step("The ticket API asks Deputy whether the token is still live (introspection).", async () => {
    const answer = await introspect(url, resource.id, resource.client_secret, token.access_token);
    expectThat(answer.active === true, `introspection says ${JSON.stringify(answer)}`);
    return {
      details: [
        `{"active": true, "client_id": "${String(answer.client_id)}", "scope": "${String(answer.scope)}"}`,
      ],
      value: undefined,
    };
  });

  const summarizer = await n.step(
    'Create a sub-agent "summarizer" under ticket-triage, with its own key.',
    async () => {
      const key = await generateAgentKey();
      const a = await api.post<{ id: string; parent: string }>("/v1/agents", {
        principal: alice.id,
        name: "summarizer",
        parent: triage.id,
        jwks: { keys: [key.publicJwk] },
      });
      expectThat(a.parent === triage.id, "the sub-agent has the wrong parent");
      return { details: [`agent ${a.id}, parent ${a.parent}`], value: { ...a, key } };
    },
  );

  const delegated = await n.step(
    "ticket-triage delegates a narrower token (tickets:read only) to the summarizer by token exchange.",
    async () => {
      const t = await parent.delegate({
        subAgentId: summarizer.id,
        subAgentPrivateJwk: summarizer.key.privateJwk,
        scope: "tickets:read",
        resource: AUDIENCE,
      });
      const claims = decodeJwt(t.access_token);
      expectThat(claims.scope === "tickets:read", `the delegated scope is ${String(claims.scope)}`);
      expectThat(claims.sub === alice.id, "the delegated token is not on Alice's behalf");
      const jkt = (claims.cnf as { jkt?: string } | undefined)?.jkt;
      expectThat(jkt === summarizer.key.kid, "the delegated token is not bound to the summarizer's key");
      const live = await introspect(url, resource.id, resource.client_secret, t.access_token);
      expectThat(live.active === true, "the delegated token does not introspect as active");
      return {
        details: [
          `${describeClaims(claims)}.`,
          `act: ${JSON.stringify(claims.act)}; cnf.jkt = ${jkt}, the summarizer's key.`,
        ],
        value: t,
      };
    },
  );

  await n.step("Revoke ticket-triage (say its runner was compromised).", async () => {
    const r = await api.post<{ revoked: { agents: number; grants: number; tokens: number } }>(
      `/v1/agents/${triage.id}/revoke`,
      { reason: "demo: runner compromised" },
    );
    expectThat(
      r.revoked.agents === 2,
      `${r.revoked.agents} agent(s) revoked, expected 2 (agent and sub-agent)`,
    );
    return {
      details: [
        `Revoked ${r.revoked.agents} agents (it and its sub-agent), ${r.revoked.grants} grants and ${r.revoked.tokens} tokens; Alice is untouched.`,
      ],
      value: undefined,
    };
  });

  await n.step('Both tokens are dead: introspection answers {"active": false} for each.', async () => {
    const details: string[] = [];
    for (const [who, t] of [
      ["ticket-triage", token.access_token],
      ["summarizer", delegated.access_token],
    ] as const) {
      const answer = await introspect(url, resource.id, resource.client_secret, t);
      expectThat(answer.active === false, `${who}'s token still introspects as ${JSON.stringify(answer)}`);
      details.push(`${who}: ${JSON.stringify(answer)}`);
    }
    const p = await api.get<{ status: string }>(`/v1/principals/${alice.id}`);
    expectThat(p.status === "active", "Alice was disabled too");
    return { details, value: undefined };
  });

  await n.step("The token endpoint refuses both agents.", async () => {
    const sub = new DeputyAgent({
      issuer: meta.issuer,
      agentId: summarizer.id,
      privateJwk: summarizer.key.privateJwk,
    });
    const details: string[] = [];
    for (const [who, agent] of [
      ["ticket-triage", parent],
      ["summarizer", sub],
    ] as const) {
      const e = await refusal(agent);
      details.push(`${who}: ${e.code} (${e.message})`);
    }
    return { details, value: undefined };
  });
}
