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
  ApprovalRecord,
  ConnectionRecord,
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
      ...(g.constraints.max_calls !== undefined ? { max_calls: g.constraints.max_calls } : {}),
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
    accept_unbound_provenance: r.acceptUnboundProvenance,
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
  return {
    id: i.id,
    name: i.name,
    issuer: i.issuer,
    jwks: i.jwks,
    require_key_binding: i.requireKeyBinding,
    created_at: iso(i.createdAt),
  };
}

/** A connection without its secret: only the vault key id and version say a secret exists. */
export function connectionJson(c: ConnectionRecord) {
  return {
    id: c.id,
    name: c.name,
    upstream: c.upstream,
    audience: c.audience,
    resource: c.resourceId,
    auth: { type: c.authType, ...(c.authName !== null ? { name: c.authName } : {}) },
    rules: c.rules,
    secret: { version: c.secretVersion, key_id: c.secret.keyId, rotated_at: iso(c.secretRotatedAt) },
    created_at: iso(c.createdAt),
  };
}

export function approvalJson(a: ApprovalRecord, now: number) {
  const expired = (a.status === "pending" || a.status === "approved") && a.expiresAt <= now;
  return {
    id: a.id,
    status: expired ? "expired" : a.status,
    connection: a.connectionName,
    agent: a.agentId,
    chain: a.chain,
    principal: a.principalId,
    token_id: a.tokenId,
    grant_id: a.grantId,
    request: { method: a.method, url: a.url, body_sha256: a.bodySha256 },
    created_at: iso(a.createdAt),
    expires_at: iso(a.expiresAt),
    decided_at: iso(a.decidedAt),
    decided_by: a.decidedBy,
    reason: a.reason,
    receipt: a.receipt,
    used_at: iso(a.usedAt),
  };
}
