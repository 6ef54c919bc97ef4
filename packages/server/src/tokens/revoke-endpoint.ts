/**
 * RFC 7009 token revocation, by the agent that holds the token (authenticated with
 * `private_key_jwt`), by an agent above it in the delegation chain, or by the admin. Revoking a
 * token also revokes every token delegated from it (DESIGN §4 cascade).
 *
 * §2.2: an invalid, expired or unknown token is not an error: the answer is 200 with no body.
 *
 * @example
 * await revocationEndpoint(deputy, form, { kind: "admin" });
 */
import { DeputyError } from "@deputy/protocol";
import { nowSeconds } from "../clock.js";
import type { Deputy } from "../context.js";
import type { Caller } from "../identity/caller.js";
import { revokeTarget } from "../identity/cascade.js";
import { verifyAccessToken } from "./access-token.js";
import { authenticateAgent } from "./client-auth.js";
import type { TokenForm } from "./form.js";

export async function revocationEndpoint(d: Deputy, form: TokenForm, admin: boolean): Promise<void> {
  let caller: Caller;
  if (admin) {
    caller = { kind: "admin" };
  } else {
    const client = await authenticateAgent(d, form);
    if (!(await d.store.nonces.consumeOnce(client.replayKey, client.replayUntil, d.clock.now()))) {
      throw new DeputyError("ERR_INVALID_CLIENT", "client assertion jti was already used (replay)");
    }
    const a = client.agent;
    caller = {
      kind: "agent",
      agentId: a.id,
      principalId: a.principalId,
      chain: a.chain,
      scopes: [],
      tokenId: "",
      grantId: "",
    };
  }
  const token = form.get("token");
  if (!token) throw new DeputyError("ERR_INVALID_REQUEST", "token is required (RFC 7009 §2.1)");
  // RFC 7009 §2.1: token_type_hint is advisory; Deputy only issues access tokens, so it is ignored.

  let jti: string;
  let chain: string[];
  try {
    // An expired token is already dead: nothing to revoke, and §2.2 says answer 200.
    const claims = verifyAccessToken(token, {
      issuer: d.urls.issuer,
      now: nowSeconds(d.clock),
      leewaySec: 0,
      resolveKey: (kid) => d.keys.publicKey(kid),
    });
    jti = claims.jti;
    chain = [claims.client_id];
    let act = claims.act.act;
    while (act) {
      chain.push(act.sub);
      act = act.act;
    }
  } catch {
    return;
  }
  // §2.1: the token must have been issued to the requesting client (or one it delegated to).
  if (caller.kind === "agent" && !chain.includes(caller.agentId)) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      "the token was not issued to this client or one of its sub-agents",
      {
        extra: { oauth_error: "unauthorized_client" },
      },
    );
  }
  try {
    await revokeTarget(d, caller, jti, "revoked at /oauth/revoke");
  } catch (e) {
    if (e instanceof DeputyError && e.code === "ERR_NOT_FOUND") return;
    throw e;
  }
}
