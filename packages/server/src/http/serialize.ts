/**
 * Records → wire JSON (snake_case, RFC 3339 times). The only place the wire shape of objects is
 * decided, so the OpenAPI document and these functions move together.
 *
 * @example
 * reply.send(agentJson(agent));
 */
import type {
  AgentKeyRecord,
  AgentRecord,
  EnrollmentRecord,
  GrantRecord,
  PrincipalRecord,
  ProvenanceIssuerRecord,
  ResourceRecord,
} from "../store/index.js";

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function principalJson(p: PrincipalRecord) {
  return {
    id: p.id,
    type: p.type,
    name: p.name,
    email: p.email,
    status: p.status,
    created_at: iso(p.createdAt),
    disabled_at: iso(p.disabledAt),
  };
}

export function agentJson(a: AgentRecord) {
  return {
    id: a.id,
    principal: a.principalId,
    parent: a.parentId,
    chain: a.chain,
    name: a.name,
    description: a.description,
    status: a.status,
    // Labelled: verified statement claims and self-asserted fields are never merged.
    provenance: {
      status: a.verifiedProvenance ? "verified" : a.provenance ? "self_asserted" : "none",
      verified: a.verifiedProvenance,
      self_asserted: a.provenance,
    },
    enrollment: a.enrollmentId,
    ceiling: a.ceiling,
    temporary_until: iso(a.temporaryUntil),
    claimed_at: iso(a.claimedAt),
    created_at: iso(a.createdAt),
    revoked_at: iso(a.revokedAt),
    revoke_reason: a.revokeReason,
  };
}

export function agentKeyJson(k: AgentKeyRecord) {
  return { ...k.jwk, kid: k.kid, alg: k.alg, created_at: iso(k.createdAt) };
}

export function grantJson(g: GrantRecord) {
  return {
    id: g.id,
    agent: g.agentId,
    principal: g.principalId,
    parent_grant: g.parentGrantId,
    scopes: g.scopes,
    resources: g.resources,
    expires_at: iso(g.expiresAt),
    max_delegation_depth: g.maxDelegationDepth,
    constraints: {
      ...(g.constraints.max_tokens !== undefined ? { max_tokens: g.constraints.max_tokens } : {}),
      ...(g.constraints.not_before !== undefined ? { not_before: iso(g.constraints.not_before) } : {}),
    },
    tokens_issued: g.tokensIssued,
    status: g.status,
    created_at: iso(g.createdAt),
    revoked_at: iso(g.revokedAt),
  };
}

export function resourceJson(r: ResourceRecord) {
  return {
    id: r.id,
    audience: r.audience,
    name: r.name,
    allow_bearer: r.allowBearer,
    builtin: r.builtin,
    require_provenance: r.requireProvenance,
    code_digests: r.codeDigests,
    created_at: iso(r.createdAt),
  };
}

export function enrollmentJson(e: EnrollmentRecord) {
  return {
    id: e.id,
    principal: e.principalId,
    scopes: e.scopes,
    resources: e.resources,
    max_agents: e.maxAgents,
    agents_enrolled: e.agentsEnrolled,
    require_provenance: e.requireProvenance,
    status: e.status,
    expires_at: iso(e.expiresAt),
    created_at: iso(e.createdAt),
    revoked_at: iso(e.revokedAt),
  };
}

export function provenanceIssuerJson(i: ProvenanceIssuerRecord) {
  return { id: i.id, name: i.name, issuer: i.issuer, jwks: i.jwks, created_at: iso(i.createdAt) };
}
