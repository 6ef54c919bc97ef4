/**
 * `POST /oauth/token`: dispatches on `grant_type` and audits every decision, including refusals,
 * attributed to the agent the request claims to be: kind "agent" when its client authentication
 * succeeded and the refusal came after it, kind "unauthenticated" otherwise.
 * Refusals before the client authenticated go through the refusal throttle, per client address
 * (`remote`); once it has, every refusal is an entry.
 *
 * @example
 * const body = await tokenEndpoint(deputy, rawFormBody, request.headers.dpop, request.ip);
 */
import { DeputyError, GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_TOKEN_EXCHANGE } from "@deputy/protocol";
import type { AuditEvent } from "../audit/record.js";
import type { Deputy } from "../context.js";
import { clientAddressKey } from "../provision/index.js";
import { claimedAgent, isAuthenticatedForm } from "./client-auth.js";
import { clientCredentials } from "./client-credentials.js";
import { tokenExchange } from "./exchange.js";
import { parseTokenForm } from "./form.js";
import type { TokenResponse } from "./issue.js";

export async function tokenEndpoint(
  d: Deputy,
  body: string,
  dpopHeader: string | string[] | undefined,
  remote = "unknown",
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
      // A replayed assertion verifies (its signature is genuine) but did not authenticate anyone:
      // whoever resent it is refused with invalid_client, as unauthenticated as a forged one.
      const authenticated = isAuthenticatedForm(form) && e.code !== "ERR_INVALID_CLIENT";
      const event: AuditEvent = {
        action: "token.refused",
        decision: "denied",
        actor: {
          agent: known?.id ?? null,
          chain: known?.chain ?? [],
          principal: known?.principalId ?? null,
          // "agent" once its client assertion was verified (the refusal came later: scope,
          // target, DPoP…); before that the agent is only the one the request claims to be.
          kind: authenticated ? "agent" : "unauthenticated",
        },
        resource: form.getAll("resource")[0] ?? null,
        details: { code: e.code, error: e.oauthError, reason: e.message, grant_type: grantType ?? null },
      };
      await (authenticated
        ? d.audit.record(event)
        : d.audit.recordRefusal(event, clientAddressKey(remote))
      ).catch((err) => d.log.error({ err }, "audit of a refusal failed"));
    }
    throw e;
  }
}
