/**
 * RFC 8414 authorization server metadata and the JWKS (RFC 7517).
 *
 * @example
 * registerDiscovery(app, deputy);
 */
import { ALLOWED_ALGS, GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_TOKEN_EXCHANGE } from "@deputy/protocol";
import type { FastifyInstance } from "fastify";
import type { Deputy } from "../../context.js";

export function registerDiscovery(app: FastifyInstance, d: Deputy): void {
  app.get("/.well-known/oauth-authorization-server", async (_req, reply) => {
    reply.header("cache-control", "public, max-age=300");
    return {
      issuer: d.urls.issuer,
      token_endpoint: d.urls.tokenEndpoint,
      jwks_uri: d.urls.jwksUri,
      introspection_endpoint: d.urls.introspectionEndpoint,
      revocation_endpoint: d.urls.revocationEndpoint,
      grant_types_supported: [GRANT_TYPE_CLIENT_CREDENTIALS, GRANT_TYPE_TOKEN_EXCHANGE],
      token_endpoint_auth_methods_supported: ["private_key_jwt"],
      token_endpoint_auth_signing_alg_values_supported: [...ALLOWED_ALGS],
      introspection_endpoint_auth_methods_supported: ["client_secret_basic"],
      revocation_endpoint_auth_methods_supported: ["private_key_jwt"],
      dpop_signing_alg_values_supported: [...ALLOWED_ALGS],
      response_types_supported: [],
      scopes_supported: [],
      deputy_api: d.urls.api,
      // DESIGN §4: the audit ledger's checkpoint and its C2SP signed-note verifier key.
      audit_checkpoint_endpoint: d.urls.auditCheckpoint,
      audit_log_public_key: d.ledger.verifierKey,
      // DESIGN §4 "Revocation reaching verifiers": list n is `${status_list_endpoint}/${n}`.
      status_list_endpoint: d.urls.statusLists,
      revocation_events_endpoint: d.urls.revocationEvents,
    };
  });

  app.get("/.well-known/jwks.json", async (_req, reply) => {
    // A replica that is not signing still learns of a rotation made elsewhere within 10 s.
    await d.keys.reloadIfStale();
    // Short cache: a rotation must reach verifiers well before the retired key leaves the set.
    reply.header("cache-control", "public, max-age=60");
    return d.keys.jwks();
  });
}
