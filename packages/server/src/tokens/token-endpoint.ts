/**
 * `POST /oauth/token`: dispatches on `grant_type` and audits every decision, including refusals,
 * attributed to the agent the request claims to be (marked unauthenticated when it failed).
 *
 * @example
 * const body = await tokenEndpoint(deputy, rawFormBody, request.headers.dpop);
 */
import { DeputyError, GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_TOKEN_EXCHANGE } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { claimedAgent } from "./client-auth.js";
import { clientCredentials } from "./client-credentials.js";
import { tokenExchange } from "./exchange.js";
import { parseTokenForm } from "./form.js";
import type { TokenResponse } from "./issue.js";

export async function tokenEndpoint(
  d: Deputy,
  body: string,
  dpopHeader: string | string[] | undefined,
): Promise<TokenResponse> {
  const form = parseTokenForm(body);
  const grantType = form.get("grant_type");
  try {
    if (grantType === GRANT_TYPE_CLIENT_CREDENTIALS) return await clientCredentials(d, form, dpopHeader);
    if (grantType === GRANT_TYPE_TOKEN_EXCHANGE) return await tokenExchange(d, form, dpopHeader);
    throw new DeputyError(
      grantType === undefined ? "ERR_INVALID_REQUEST" : "ERR_UNSUPPORTED_GRANT_TYPE",
      grantType === undefined
        ? "grant_type is required"
        : `grant_type must be ${GRANT_TYPE_CLIENT_CREDENTIALS} or ${GRANT_TYPE_TOKEN_EXCHANGE}`,
    );
  } catch (e) {
    if (e instanceof DeputyError) {
      const agent = claimedAgent(form);
      const known = agent ? await d.store.agents.get(agent).catch(() => null) : null;
      await d.audit
        .record({
          action: "token.refused",
          decision: "denied",
          actor: {
            agent: known?.id ?? null,
            chain: known?.chain ?? [],
            principal: known?.principalId ?? null,
            kind: "unauthenticated",
          },
          resource: form.getAll("resource")[0] ?? null,
          details: { code: e.code, error: e.oauthError, reason: e.message, grant_type: grantType ?? null },
        })
        .catch((err) => d.log.error({ err }, "audit of a refusal failed"));
    }
    throw e;
  }
}
