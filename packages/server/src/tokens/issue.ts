/**
 * Minting a token and recording it, as one transaction: the client assertion's `jti` and the DPoP
 * proof's `jti` are consumed, the grant's token budget is counted, the token and its audit entry
 * are written. If any step refuses, nothing is written and no token leaves the server.
 *
 * @example
 * const response = await issueToken(deputy, { agent, grant, scopes, resource, jkt, replay: [...] });
 */
import { DeputyError, newTokenId } from "@deputy/protocol";
import type { AuditActor } from "../audit/record.js";
import type { Deputy } from "../context.js";
import type { AgentRecord, GrantRecord } from "../store/index.js";
import { accessTokenClaims, signAccessTokenAsync } from "./mint.js";

export interface TokenResponse {
  access_token: string;
  token_type: "DPoP" | "Bearer";
  expires_in: number;
  scope: string;
  issued_token_type?: string;
}

export interface IssueInput {
  agent: AgentRecord;
  grant: GrantRecord;
  scopes: string[];
  audience: string;
  jkt: string | null;
  /** Single-use keys to consume in the same transaction (assertion, DPoP and actor-token jtis). */
  replay: Array<{ key: string; until: number; what: string }>;
  /** Latest allowed expiry (epoch ms), e.g. the parent token's for a delegation. */
  notAfter?: number;
  parentTokenId?: string | null;
  action: "token.issued" | "token.exchanged";
  actor: AuditActor;
  /** Writes that must commit with the token (e.g. a delegation's child grant). */
  before?: (tx: Deputy["store"]) => Promise<void>;
  details?: Record<string, unknown>;
}

export async function issueToken(d: Deputy, input: IssueInput): Promise<TokenResponse> {
  const nowMs = d.clock.now();
  const iat = Math.floor(nowMs / 1000);
  const ceiling = Math.min(input.grant.expiresAt, input.notAfter ?? Number.POSITIVE_INFINITY);
  const exp = Math.min(iat + d.config.accessTokenTtl, Math.floor(ceiling / 1000));
  if (exp <= iat) throw new DeputyError("ERR_GRANT_EXPIRED", "the grant expires too soon to mint a token");
  const jti = newTokenId(nowMs);
  const maxTokens = input.grant.constraints.max_tokens ?? null;
  const statusIdx = await d.statusIndexes.next();

  const claims = accessTokenClaims({
    issuer: d.urls.issuer,
    statusListBase: d.urls.statusLists,
    principal: input.agent.principalId,
    audience: input.audience,
    agent: input.agent.id,
    chain: input.agent.chain,
    scopes: input.scopes,
    iat,
    exp,
    jti,
    grantId: input.grant.id,
    jkt: input.jkt,
    statusIdx,
    provenance: input.agent.verifiedProvenance,
  });
  // Signed before the transaction (on the thread pool), so the group commit never waits on it; if
  // the transaction refuses, the signed token is simply dropped and never leaves the server.
  const { jws: accessToken, kid } = await signAccessTokenAsync(d.keys, claims);

  await d.store.transaction(async (tx) => {
    for (const r of input.replay) {
      if (!(await tx.nonces.consumeOnce(r.key, r.until, nowMs))) {
        throw new DeputyError(
          r.what === "dpop"
            ? "ERR_INVALID_DPOP_PROOF"
            : r.what === "actor"
              ? "ERR_INVALID_GRANT"
              : "ERR_INVALID_CLIENT",
          `${r.what === "dpop" ? "DPoP proof" : r.what === "actor" ? "actor_token" : "client assertion"} jti was already used (replay)`,
        );
      }
    }
    if (input.before) await input.before(tx);
    if (!(await tx.grants.consumeTokenBudget(input.grant.id, maxTokens))) {
      throw new DeputyError(
        "ERR_GRANT_BUDGET_EXHAUSTED",
        `grant ${input.grant.id} has minted its max_tokens`,
      );
    }
    await tx.tokens.create({
      id: jti,
      agentId: input.agent.id,
      principalId: input.agent.principalId,
      grantId: input.grant.id,
      audience: input.audience,
      scope: claims.scope,
      jkt: input.jkt,
      statusIdx,
      parentTokenId: input.parentTokenId ?? null,
      issuedAt: iat * 1000,
      expiresAt: exp * 1000,
      kid,
      revokedAt: null,
    });
    await d.audit.record(
      {
        action: input.action,
        decision: "allowed",
        actor: input.actor,
        target: input.agent.id,
        resource: input.audience,
        tokenId: jti,
        grantId: input.grant.id,
        details: { scope: claims.scope, exp, dpop: input.jkt !== null, ...input.details },
      },
      tx,
    );
  });
  return {
    access_token: accessToken,
    token_type: input.jkt === null ? "Bearer" : "DPoP",
    expires_in: exp - iat,
    scope: input.scopes.join(" "),
  };
}
