/**
 * Delegation to a sub-agent by RFC 8693 token exchange (DESIGN §4). The parent agent
 * authenticates, presents its own access token as `subject_token` and the sub-agent's signed JWT
 * as `actor_token`. The result acts for the same principal, is bound (`cnf.jkt`) to the key that
 * signed the actor token, never exceeds the parent's scope, resource or lifetime, and is recorded
 * as a child grant one delegation hop below the parent's.
 *
 * @example
 * const response = await tokenExchange(deputy, form, request.headers.dpop);
 */
import {
  attenuate,
  DeputyError,
  GRANT_TYPE_TOKEN_EXCHANGE,
  newId,
  parseScope,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "@deputy/protocol";
import { nowSeconds } from "../clock.js";
import type { Deputy } from "../context.js";
import { authorityOf } from "../grants/create.js";
import type { GrantRecord } from "../store/index.js";
import { verifyAccessToken } from "./access-token.js";
import { parseAgentJwt, verifyAgentJwt } from "./agent-jwt.js";
import {
  agentVerificationKeys,
  authenticateAgent,
  loadActiveAgent,
  MAX_ASSERTION_LIFETIME_S,
} from "./client-auth.js";
import { checkDpop } from "./dpop-check.js";
import type { TokenForm } from "./form.js";
import { issueToken, type TokenResponse } from "./issue.js";
import { checkProvenanceAccepted, requestedResource, requestedScopes } from "./select-grant.js";

export async function tokenExchange(
  d: Deputy,
  form: TokenForm,
  dpopHeader: string | string[] | undefined,
): Promise<TokenResponse> {
  const client = await authenticateAgent(d, form);
  const parent = client.agent;

  // RFC 8693 §2.1: subject_token and its type are required.
  const subjectToken = form.get("subject_token");
  if (!subjectToken || form.get("subject_token_type") !== TOKEN_TYPE_ACCESS_TOKEN) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      `subject_token with subject_token_type=${TOKEN_TYPE_ACCESS_TOKEN} is required`,
    );
  }
  const actorToken = form.get("actor_token");
  if (!actorToken || form.get("actor_token_type") !== TOKEN_TYPE_JWT) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      `delegation needs the sub-agent's actor_token with actor_token_type=${TOKEN_TYPE_JWT}`,
    );
  }
  if (form.get("audience") !== undefined) {
    // RFC 8693 §2.1 allows logical names; Deputy's audiences are registered resource URIs.
    throw new DeputyError("ERR_INVALID_TARGET", "name the target with resource (RFC 8707), not audience");
  }
  const requestedType = form.get("requested_token_type");
  if (requestedType !== undefined && requestedType !== TOKEN_TYPE_ACCESS_TOKEN) {
    throw new DeputyError("ERR_INVALID_REQUEST", `requested_token_type must be ${TOKEN_TYPE_ACCESS_TOKEN}`);
  }

  // The parent's own token: signed by us, live, not revoked, and held by the authenticated parent.
  const now = nowSeconds(d.clock);
  let subject: ReturnType<typeof verifyAccessToken>;
  try {
    subject = verifyAccessToken(subjectToken, {
      issuer: d.urls.issuer,
      now,
      leewaySec: 0,
      resolveKey: (kid) => d.keys.publicKey(kid),
    });
  } catch (e) {
    throw new DeputyError("ERR_INVALID_GRANT", `subject_token: ${(e as Error).message}`, { cause: e });
  }
  if (subject.client_id !== parent.id) {
    throw new DeputyError("ERR_INVALID_GRANT", "subject_token was not issued to the authenticated agent");
  }
  const subjectRecord = await d.store.tokens.get(subject.jti);
  if (!subjectRecord || subjectRecord.revokedAt !== null) {
    throw new DeputyError("ERR_INVALID_GRANT", "subject_token is revoked");
  }
  const parentGrant = await d.store.grants.get(subject.grant_id);
  if (parentGrant?.status !== "active") {
    throw new DeputyError("ERR_GRANT_REVOKED", "the grant behind subject_token is revoked");
  }

  // The sub-agent: a direct child of the parent, proving possession of a registered key.
  let actorParsed: ReturnType<typeof parseAgentJwt>;
  try {
    actorParsed = parseAgentJwt(actorToken);
  } catch (e) {
    throw new DeputyError("ERR_INVALID_GRANT", `actor_token: ${(e as Error).message}`, { cause: e });
  }
  const sub = await loadActiveAgent(d.store, actorParsed.agentId, "ERR_INVALID_GRANT", d.clock.now());
  if (sub.parentId !== parent.id) {
    throw new DeputyError("ERR_INVALID_GRANT", `agent ${sub.id} is not a sub-agent of ${parent.id}`);
  }
  const actor = verifyAgentJwt(actorParsed, {
    keys: await agentVerificationKeys(d.store, sub.id),
    audiences: [d.urls.issuer, d.urls.tokenEndpoint],
    now,
    maxLifetimeSec: MAX_ASSERTION_LIFETIME_S,
    skewSec: d.config.clockSkew,
    errorCode: "ERR_INVALID_GRANT",
  });
  // The delegated token is bound to the key the sub-agent just proved it holds (its kid is the
  // RFC 7638 thumbprint). A DPoP proof, if sent, must be made with that same key.
  const jkt = actor.kid;
  const dpop = checkDpop(d, dpopHeader, { htm: "POST", htu: d.urls.tokenEndpoint, expectedJkt: jkt });

  // Attenuate: request ⊆ subject token ⊆ parent grant, one hop down (RFC 8693 §2.1 scope/resource).
  const heldScopes = parseScope(subject.scope) ?? [];
  const scopes = requestedScopes(form) ?? heldScopes;
  const audience = requestedResource(form) ?? subject.aud;
  const childAuthority = attenuate(
    {
      ...authorityOf(parentGrant),
      scopes: heldScopes,
      resources: [subject.aud],
      expiresAt: Math.min(parentGrant.expiresAt, subject.exp * 1000),
    },
    { scopes, resources: [audience] },
  );

  // The delegated token acts as the sub-agent: a resource's provenance requirement applies to it.
  const targetResource = await d.resources.byAudience(audience);
  if (targetResource) checkProvenanceAccepted(sub, targetResource);

  const nowMs = d.clock.now();
  const child: GrantRecord = {
    id: newId("grt"),
    agentId: sub.id,
    principalId: parent.principalId,
    parentGrantId: parentGrant.id,
    scopes: childAuthority.scopes as string[],
    resources: childAuthority.resources as string[],
    expiresAt: childAuthority.expiresAt,
    maxDelegationDepth: childAuthority.depthRemaining,
    constraints: {},
    tokensIssued: 0,
    status: "active",
    createdAt: nowMs,
    revokedAt: null,
  };
  const replay = [
    { key: client.replayKey, until: client.replayUntil, what: "assertion" },
    { key: `act:${sub.id}:${actor.jti}`, until: (actor.exp + d.config.clockSkew) * 1000, what: "actor" },
  ];
  if (dpop) replay.push({ key: dpop.replayKey, until: dpop.replayUntil, what: "dpop" });
  const response = await issueToken(d, {
    agent: sub,
    grant: child,
    scopes: child.scopes,
    audience,
    jkt,
    replay,
    notAfter: subject.exp * 1000,
    parentTokenId: subject.jti,
    action: "token.exchanged",
    actor: { agent: parent.id, chain: parent.chain, principal: parent.principalId, kind: "agent" },
    before: async (tx) => {
      await tx.grants.create(child);
      await d.audit.record(
        {
          action: "grant.delegated",
          decision: "allowed",
          actor: { agent: parent.id, chain: parent.chain, principal: parent.principalId, kind: "agent" },
          target: child.id,
          grantId: child.id,
          resource: audience,
          details: {
            sub_agent: sub.id,
            parent_grant: parentGrant.id,
            scopes: child.scopes,
            subject_token: subject.jti,
          },
        },
        tx,
      );
    },
    details: { grant_type: GRANT_TYPE_TOKEN_EXCHANGE, sub_agent: sub.id, subject_token: subject.jti },
  });
  // RFC 8693 §2.2.1: issued_token_type is required in the response.
  return { ...response, issued_token_type: TOKEN_TYPE_ACCESS_TOKEN };
}
