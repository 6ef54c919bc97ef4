/**
 * Provisioning routes: enrollments, self-registration with an enrollment code, temporary agents
 * (proof-of-work challenge, registration, claim) and provenance issuers. `POST /v1/agents/enroll`,
 * `GET /v1/agents/temporary/challenge` and `POST /v1/agents/temporary` take no caller
 * authentication: the enrollment code, or the proof of work, is what admits the request.
 *
 * @example
 * registerProvisioning(app, deputy);
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Deputy } from "../../context.js";
import { notFound } from "../../identity/caller.js";
import {
  claimAgent,
  createEnrollment,
  createProvenanceIssuer,
  createTemporaryAgent,
  enrollAgent,
  getEnrollment,
  issueChallenge,
  listEnrollments,
  removeProvenanceIssuer,
  revokeEnrollment,
  updateProvenanceIssuer,
} from "../../provision/index.js";
import { authenticateCaller } from "../auth.js";
import { listBody, pageRequest } from "../pagination.js";
import {
  CreateEnrollmentBody,
  CreateProvenanceIssuerBody,
  EmptyBody,
  EnrollAgentBody,
  EnrollmentListQuery,
  ListQuery,
  NoQuery,
  parse,
  RevokeEnrollmentBody,
  TemporaryAgentBody,
  UpdateProvenanceIssuerBody,
} from "../schemas.js";
import { agentJson, enrollmentJson, grantJson, provenanceIssuerJson } from "../serialize.js";

type P = { id: string };

export function registerProvisioning(app: FastifyInstance, d: Deputy): void {
  const caller = (r: FastifyRequest) => authenticateCaller(d, r);

  // Enrollments
  app.post("/v1/enrollments", async (r, reply) => {
    const c = await caller(r);
    const body = parse(CreateEnrollmentBody, r.body);
    const { record, code } = await createEnrollment(d, c, {
      principal: body.principal,
      scopes: body.scopes,
      resources: body.resources,
      maxAgents: body.max_agents,
      expiresIn: body.expires_in,
      requireProvenance: body.require_provenance,
    });
    reply.header("cache-control", "no-store");
    return reply.code(201).send({ ...enrollmentJson(record), enrollment_code: code });
  });
  app.get("/v1/enrollments", async (r) => {
    const c = await caller(r);
    const q = parse(EnrollmentListQuery, r.query);
    return listBody(await listEnrollments(d, c, { principal: q.principal }, pageRequest(q)), enrollmentJson);
  });
  app.get<{ Params: P }>("/v1/enrollments/:id", async (r) =>
    enrollmentJson(await getEnrollment(d, await caller(r), r.params.id)),
  );
  app.post<{ Params: P }>("/v1/enrollments/:id/revoke", async (r) => {
    const c = await caller(r);
    const body = parse(RevokeEnrollmentBody, r.body ?? undefined);
    const out = await revokeEnrollment(d, c, r.params.id, {
      cascade: body?.cascade ?? false,
      reason: body?.reason ?? null,
    });
    return { enrollment: enrollmentJson(out.enrollment), revoked: out.revoked, agents: out.agents };
  });

  // Self-registration with an enrollment code (the code is the credential).
  app.post("/v1/agents/enroll", async (r, reply) => {
    const body = parse(EnrollAgentBody, r.body);
    const { agent, grant } = await enrollAgent(
      d,
      { code: body.enrollment_code, name: body.name, jwks: body.jwks, provenance: body.provenance },
      r.ip,
    );
    return reply.code(201).send({ agent: agentJson(agent), grant: grantJson(grant) });
  });

  // Temporary agents
  app.get("/v1/agents/temporary/challenge", async (r, reply) => {
    parse(NoQuery, r.query);
    reply.header("cache-control", "no-store");
    return issueChallenge(
      d.provisioning.powKeys[0]!,
      d.clock.now(),
      d.config.powDifficulty,
      d.config.powChallengeTtl,
    );
  });
  app.post("/v1/agents/temporary", async (r, reply) => {
    const body = parse(TemporaryAgentBody, r.body);
    const out = await createTemporaryAgent(
      d,
      {
        name: body.name,
        jwks: body.jwks,
        challenge: body.challenge,
        nonce: body.nonce,
        provenance: body.provenance,
      },
      r.ip,
    );
    reply.header("cache-control", "no-store");
    return reply.code(201).send({
      agent: agentJson(out.agent),
      grant: out.grant ? grantJson(out.grant) : null,
      claim_url: `${d.urls.api}/claims/${out.claimCode}`,
      claim_code: out.claimCode,
      expires_at: new Date(out.expiresAt).toISOString(),
    });
  });
  app.post<{ Params: { code: string } }>("/v1/claims/:code", async (r) => {
    const c = await caller(r);
    parse(EmptyBody, r.body ?? undefined);
    return agentJson(await claimAgent(d, c, r.params.code));
  });

  // Provenance issuers
  app.post("/v1/provenance-issuers", async (r, reply) => {
    const c = await caller(r);
    const body = parse(CreateProvenanceIssuerBody, r.body);
    const issuer = await createProvenanceIssuer(d, c, {
      name: body.name,
      issuer: body.issuer,
      jwks: body.jwks,
      requireKeyBinding: body.require_key_binding,
    });
    return reply.code(201).send(provenanceIssuerJson(issuer));
  });
  app.get("/v1/provenance-issuers", async (r) => {
    await caller(r);
    const q = parse(ListQuery, r.query);
    return listBody(await d.store.provenanceIssuers.list(pageRequest(q)), provenanceIssuerJson);
  });
  app.get<{ Params: P }>("/v1/provenance-issuers/:id", async (r) => {
    await caller(r);
    const i = await d.store.provenanceIssuers.get(r.params.id);
    if (!i) throw notFound("provenance issuer", r.params.id);
    return provenanceIssuerJson(i);
  });
  app.delete<{ Params: P }>("/v1/provenance-issuers/:id", async (r, reply) => {
    await removeProvenanceIssuer(d, await caller(r), r.params.id);
    return reply.code(204).send();
  });
  app.patch<{ Params: P }>("/v1/provenance-issuers/:id", async (r) => {
    const c = await caller(r);
    const body = parse(UpdateProvenanceIssuerBody, r.body);
    return provenanceIssuerJson(
      await updateProvenanceIssuer(d, c, r.params.id, {
        requireKeyBinding: body.require_key_binding,
        jwks: body.jwks,
      }),
    );
  });
}
