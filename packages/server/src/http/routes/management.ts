/**
 * The `/v1` management API: principals, agents, grants, resources, revocations, issuer keys.
 * Every handler authenticates the caller, parses its input strictly, calls one domain operation
 * and serializes the result; authorization lives in the domains.
 *
 * @example
 * registerManagement(app, deputy);
 */
import { DeputyError } from "@deputy/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Deputy } from "../../context.js";
import { createGrant, getGrant, listGrants } from "../../grants/create.js";
import {
  addAgentKey,
  createAgent,
  getAgent,
  listAgentKeys,
  listAgents,
  removeAgentKey,
} from "../../identity/agents.js";
import { requireAdmin } from "../../identity/caller.js";
import { revokeTarget } from "../../identity/cascade.js";
import { createPrincipal, getPrincipal, issuePrincipalToken } from "../../identity/principals.js";
import { createResource, getResource, updateResourceProvenance } from "../../identity/resources.js";
import { type MasterKeyStatus, masterKeyStatus, rewrapMasterSealed } from "../../keys/master-rewrap.js";
import { authenticateCaller } from "../auth.js";
import { listBody, pageRequest } from "../pagination.js";
import {
  AddKeyBody,
  AgentListQuery,
  CreateAgentBody,
  CreateGrantBody,
  CreatePrincipalBody,
  CreateResourceBody,
  EmptyBody,
  GrantListQuery,
  ListQuery,
  parse,
  RevocationBody,
  RevokeBody,
  UpdateResourceBody,
} from "../schemas.js";
import { agentJson, agentKeyJson, grantJson, principalJson, resourceJson } from "../serialize.js";

type P = { id: string };
type PK = { id: string; kid: string };

export function registerManagement(app: FastifyInstance, d: Deputy): void {
  const caller = (r: FastifyRequest) => authenticateCaller(d, r);

  // Principals
  app.post("/v1/principals", async (r, reply) => {
    const c = await caller(r);
    const body = parse(CreatePrincipalBody, r.body);
    return reply.code(201).send(principalJson(await createPrincipal(d, c, body)));
  });
  app.get("/v1/principals", async (r) => {
    const c = await caller(r);
    const q = parse(ListQuery, r.query);
    if (c.kind === "principal") {
      return { items: [principalJson(await getPrincipal(d, c, c.principalId))], next_cursor: null };
    }
    requireAdmin(c, "listing principals");
    return listBody(await d.store.principals.list({}, pageRequest(q)), principalJson);
  });
  app.get<{ Params: P }>("/v1/principals/:id", async (r) =>
    principalJson(await getPrincipal(d, await caller(r), r.params.id)),
  );
  app.post<{ Params: P }>("/v1/principals/:id/tokens", async (r, reply) => {
    const c = await caller(r);
    parse(EmptyBody, r.body ?? undefined);
    reply.header("cache-control", "no-store");
    return reply.code(201).send(await issuePrincipalToken(d, c, r.params.id));
  });
  app.post<{ Params: P }>("/v1/principals/:id/disable", async (r) => {
    const c = await caller(r);
    const body = parse(RevokeBody, r.body ?? undefined);
    await getPrincipal(d, c, r.params.id);
    if (c.kind === "agent") throw new DeputyError("ERR_FORBIDDEN", "an agent cannot disable its principal");
    return revocationJson(await revokeTarget(d, c, r.params.id, body?.reason ?? null));
  });

  // Agents
  app.post("/v1/agents", async (r, reply) => {
    const c = await caller(r);
    const body = parse(CreateAgentBody, r.body);
    return reply.code(201).send(agentJson(await createAgent(d, c, body)));
  });
  app.get("/v1/agents", async (r) => {
    const c = await caller(r);
    const q = parse(AgentListQuery, r.query);
    const page = await listAgents(
      d,
      c,
      { principal: q.principal, status: q.status, parent: q.parent },
      pageRequest(q),
    );
    return listBody(page, agentJson);
  });
  app.get<{ Params: P }>("/v1/agents/:id", async (r) => {
    const c = await caller(r);
    const agent = await getAgent(d, c, r.params.id);
    const keys = await d.store.agents.keys(agent.id);
    return { ...agentJson(agent), jwks: { keys: keys.map(agentKeyJson) } };
  });
  app.post<{ Params: P }>("/v1/agents/:id/revoke", async (r) => {
    const c = await caller(r);
    const body = parse(RevokeBody, r.body ?? undefined);
    await getAgent(d, c, r.params.id);
    return revocationJson(await revokeTarget(d, c, r.params.id, body?.reason ?? null));
  });
  app.get<{ Params: P }>("/v1/agents/:id/keys", async (r) => {
    const keys = await listAgentKeys(d, await caller(r), r.params.id);
    return { items: keys.map(agentKeyJson), next_cursor: null };
  });
  app.post<{ Params: P }>("/v1/agents/:id/keys", async (r, reply) => {
    const c = await caller(r);
    const body = parse(AddKeyBody, r.body);
    return reply.code(201).send(agentKeyJson(await addAgentKey(d, c, r.params.id, body.jwk)));
  });
  app.delete<{ Params: PK }>("/v1/agents/:id/keys/:kid", async (r, reply) => {
    await removeAgentKey(d, await caller(r), r.params.id, r.params.kid);
    return reply.code(204).send();
  });

  // Grants
  app.post("/v1/grants", async (r, reply) => {
    const c = await caller(r);
    const body = parse(CreateGrantBody, r.body);
    const grant = await createGrant(d, c, {
      agent: body.agent,
      scopes: body.scopes,
      resources: body.resources,
      expiresAt: body.expires_at,
      maxDelegationDepth: body.max_delegation_depth,
      constraints: body.constraints
        ? {
            ...(body.constraints.max_tokens !== undefined ? { max_tokens: body.constraints.max_tokens } : {}),
            ...(body.constraints.not_before !== undefined ? { not_before: body.constraints.not_before } : {}),
            ...(body.constraints.max_calls !== undefined ? { max_calls: body.constraints.max_calls } : {}),
          }
        : undefined,
    });
    return reply.code(201).send(grantJson(grant));
  });
  app.get("/v1/grants", async (r) => {
    const c = await caller(r);
    const q = parse(GrantListQuery, r.query);
    return listBody(await listGrants(d, c, { agent: q.agent, status: q.status }, pageRequest(q)), grantJson);
  });
  app.get<{ Params: P }>("/v1/grants/:id", async (r) =>
    grantJson(await getGrant(d, await caller(r), r.params.id)),
  );
  app.post<{ Params: P }>("/v1/grants/:id/revoke", async (r) => {
    const c = await caller(r);
    const body = parse(RevokeBody, r.body ?? undefined);
    await getGrant(d, c, r.params.id);
    return revocationJson(await revokeTarget(d, c, r.params.id, body?.reason ?? null));
  });

  // Resources
  app.post("/v1/resources", async (r, reply) => {
    const c = await caller(r);
    const body = parse(CreateResourceBody, r.body);
    const { record, clientSecret } = await createResource(d, c, {
      audience: body.audience,
      name: body.name,
      allowBearer: body.allow_bearer,
      requireProvenance: body.require_provenance,
      codeDigests: body.code_digests,
      acceptUnboundProvenance: body.accept_unbound_provenance,
    });
    reply.header("cache-control", "no-store");
    return reply.code(201).send({ ...resourceJson(record), client_secret: clientSecret });
  });
  app.get("/v1/resources", async (r) => {
    await caller(r);
    const q = parse(ListQuery, r.query);
    return listBody(await d.store.resources.list(pageRequest(q)), resourceJson);
  });
  app.get<{ Params: P }>("/v1/resources/:id", async (r) =>
    resourceJson(await getResource(d, await caller(r), r.params.id)),
  );
  app.patch<{ Params: P }>("/v1/resources/:id", async (r) => {
    const c = await caller(r);
    const body = parse(UpdateResourceBody, r.body);
    return resourceJson(
      await updateResourceProvenance(d, c, r.params.id, {
        requireProvenance: body.require_provenance,
        codeDigests: body.code_digests,
        acceptUnboundProvenance: body.accept_unbound_provenance,
      }),
    );
  });

  // Revocations (any id)
  app.post("/v1/revocations", async (r) => {
    const c = await caller(r);
    const body = parse(RevocationBody, r.body);
    return revocationJson(await revokeTarget(d, c, body.target, body.reason ?? null));
  });

  // Issuer keys
  app.post("/v1/keys/rotate", async (r) => {
    const c = await caller(r);
    parse(EmptyBody, r.body ?? undefined);
    requireAdmin(c, "rotating the issuer key");
    const result = await d.keys.rotate();
    await d.audit.record({
      action: "issuer_key.rotated",
      decision: "allowed",
      actor: { agent: null, chain: [], principal: null, kind: "admin" },
      target: result.activeKid,
      details: {
        retired: result.retiredKid,
        published_until: new Date(result.retiredPublishedUntil).toISOString(),
      },
    });
    return {
      active_kid: result.activeKid,
      retired_kid: result.retiredKid || null,
      retired_published_until: new Date(result.retiredPublishedUntil).toISOString(),
    };
  });

  // Master-key ring: which keys the stored boxes still need, and re-sealing them under the active key.
  app.get("/v1/master-key", async (r) => {
    requireAdmin(await caller(r), "reading the master-key status");
    return masterKeyJson(await masterKeyStatus(d.store, d.masterKeys));
  });
  app.post("/v1/master-key/rewrap", async (r) => {
    const c = await caller(r);
    parse(EmptyBody, r.body ?? undefined);
    requireAdmin(c, "re-sealing under the master key");
    const result = await rewrapMasterSealed(d.store, d.masterKeys);
    await d.audit.record({
      action: "master_key.rewrapped",
      decision: "allowed",
      actor: { agent: null, chain: [], principal: null, kind: "admin" },
      target: result.status.activeKeyId,
      details: { rewrapped: result.rewrapped, remaining: result.status.remaining },
    });
    return { rewrapped: result.rewrapped, ...masterKeyJson(result.status) };
  });
}

/** The wire form of a {@link MasterKeyStatus} (docs/api.md, master key). */
function masterKeyJson(s: MasterKeyStatus) {
  return {
    active_key_id: s.activeKeyId,
    ring: s.ring,
    total: s.total,
    references: s.references,
    remaining: s.remaining,
    unreadable: s.unreadable.map((u) => ({ kind: u.kind, id: u.id, key_id: u.keyId })),
  };
}

function revocationJson(r: Awaited<ReturnType<typeof revokeTarget>>) {
  return { target: r.target, revoked: r.revoked, agents: r.cascade.agents, grants: r.cascade.grants };
}
