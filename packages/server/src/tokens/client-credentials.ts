/**
 * `grant_type=client_credentials` (RFC 6749 §4.4) for an agent acting for its principal, with
 * `private_key_jwt` client authentication and a DPoP-bound result (RFC 9449 §5).
 *
 * @example
 * const response = await clientCredentials(deputy, form, request.headers.dpop);
 */
import { DeputyError } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { authenticateAgent } from "./client-auth.js";
import { prefetchDpopProof } from "./dpop.js";
import { checkDpop } from "./dpop-check.js";
import type { TokenForm } from "./form.js";
import { issueToken, type TokenResponse } from "./issue.js";
import { selectGrant } from "./select-grant.js";

export async function clientCredentials(
  d: Deputy,
  form: TokenForm,
  dpopHeader: string | string[] | undefined,
): Promise<TokenResponse> {
  // Both Ed25519 checks (assertion and proof) run on the thread pool while the store is read.
  const dpopSignature = prefetchDpopProof(dpopHeader);
  const client = await authenticateAgent(d, form);
  await dpopSignature;
  const dpop = checkDpop(d, dpopHeader, { htm: "POST", htu: d.urls.tokenEndpoint });
  const { grant, scopes, resource } = await selectGrant(d, client.agent, form);
  if (dpop === null && !resource.allowBearer) {
    throw new DeputyError(
      "ERR_DPOP_REQUIRED",
      `resource ${resource.audience} accepts only DPoP-bound tokens: send a DPoP proof (RFC 9449)`,
    );
  }
  const replay = [{ key: client.replayKey, until: client.replayUntil, what: "assertion" }];
  if (dpop) replay.push({ key: dpop.replayKey, until: dpop.replayUntil, what: "dpop" });
  return issueToken(d, {
    agent: client.agent,
    grant,
    scopes,
    audience: resource.audience,
    jkt: dpop?.jkt ?? null,
    replay,
    action: "token.issued",
    actor: {
      agent: client.agent.id,
      chain: client.agent.chain,
      principal: client.agent.principalId,
      kind: "agent",
    },
    details: { grant_type: "client_credentials" },
  });
}
