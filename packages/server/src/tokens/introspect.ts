/**
 * RFC 7662 token introspection. Revoked, expired, malformed, foreign or unknown tokens all answer
 * `{"active": false}` (§2.2) with no hint why. A resource only learns about tokens meant for its
 * own audience (§4: the AS may tailor answers to the caller, which also stops token scanning).
 *
 * @example
 * const answer = await introspect(deputy, { kind: "resource", resource }, token);
 */
import { nowSeconds } from "../clock.js";
import type { Deputy } from "../context.js";
import type { ResourceRecord } from "../store/index.js";
import type { verifyAccessToken } from "./access-token.js";

export type IntrospectionCaller = { kind: "admin" } | { kind: "resource"; resource: ResourceRecord };

export type IntrospectionResponse =
  | { active: false }
  | ({ active: true; token_type: "DPoP" | "Bearer" } & Record<string, unknown>);

export async function introspect(
  d: Deputy,
  caller: IntrospectionCaller,
  token: string,
): Promise<IntrospectionResponse> {
  const answer = await evaluate(d, caller, token);
  await d.audit.record({
    action: "token.introspected",
    decision: answer.active ? "allowed" : "denied",
    actor: {
      agent: answer.active ? (answer.client_id as string) : null,
      chain: answer.active ? chainOf(answer) : [],
      principal: answer.active ? (answer.sub as string) : null,
      kind: caller.kind,
      ...(caller.kind === "resource" ? { resource_id: caller.resource.id } : {}),
    },
    resource: caller.kind === "resource" ? caller.resource.audience : null,
    tokenId: answer.active ? (answer.jti as string) : null,
    grantId: answer.active ? (answer.grant_id as string) : null,
    details: { active: answer.active },
  });
  return answer;
}

async function evaluate(
  d: Deputy,
  caller: IntrospectionCaller,
  token: string,
): Promise<IntrospectionResponse> {
  let claims: ReturnType<typeof verifyAccessToken>;
  try {
    claims = d.verifiedTokens.verify(token, {
      issuer: d.urls.issuer,
      now: nowSeconds(d.clock),
      leewaySec: 0,
      resolveKey: (kid) => d.keys.publicKey(kid),
    });
  } catch {
    return { active: false };
  }
  if (caller.kind === "resource" && claims.aud !== caller.resource.audience) return { active: false };
  const record = await d.store.tokens.get(claims.jti);
  if (!record || record.revokedAt !== null) return { active: false };
  return {
    active: true,
    iss: claims.iss,
    sub: claims.sub,
    aud: claims.aud,
    client_id: claims.client_id,
    scope: claims.scope,
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti,
    grant_id: claims.grant_id,
    act: claims.act,
    // RFC 9449 §6.2: a DPoP-bound token introspects with token_type DPoP and its cnf.
    token_type: claims.cnf ? "DPoP" : "Bearer",
    ...(claims.cnf ? { cnf: claims.cnf } : {}),
  };
}

function chainOf(answer: Record<string, unknown>): string[] {
  const out: string[] = [];
  let act = (answer.act as { act?: unknown } | undefined)?.act as { sub: string; act?: unknown } | undefined;
  while (act) {
    out.push(act.sub);
    act = act.act as typeof act | undefined;
  }
  return out;
}
