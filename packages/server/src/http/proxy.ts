/**
 * The gateway `ANY /proxy/{connection}/{path}`, served on the raw node:http server ahead of
 * Fastify so bodies stream through untouched (no content-type parsing, no buffering). The
 * checks run in order, each throwing a {@link DeputyError} that becomes problem+json:
 *
 * 1. request target and header size (`parseProxyTarget`, `brokerMaxHeaderBytes`)
 * 2. access token: signature and claims (RFC 9068), DPoP-bound
 * 3. DPoP proof for this method and URL, bound to the token (RFC 9449 §4.3, §7.1)
 * 4. revocation in the in-memory index, then the per-agent rate limit (nothing read or written
 *    in the store before it)
 * 5. the connection, and audience = the connection's (RFC 8707)
 * 6. the token's stored state (another replica's revocation) and the proof's single-use `jti`
 * 7. the connection's rules for the token's scopes
 * 8. approval: hold the call (unless its call budget is already spent), or check a presented
 *    `Deputy-Approval`
 * 9. consume that approval and charge the call budgets (`constraints.max_calls` of the token's
 *    grant and of every grant it was delegated from) in one transaction, then forward with the
 *    credential injected; if the upstream never received the call (refused, unresolvable, TLS
 *    failure) both are given back
 *
 * Every outcome is one audit entry: `broker.call_allowed`, `broker.call_denied` or `broker.call_held`.
 *
 * @example
 * const server = http.createServer((req, res) =>
 *   isProxyRequest(req) ? handleProxy(deputy, req, res) : fastifyHandler(req, res));
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type AccessTokenClaims, actorChain, DeputyError, isId } from "@deputy/protocol";
import { APPROVAL_HEADER, APPROVAL_HEADER_NAME, holdCall, useApproval } from "../broker/approvals.js";
import { assertBudgetsLeft, callBudgets, chargeCallBudgets } from "../broker/budget.js";
import { forwardCall, neverDelivered, readBody, sha256Hex } from "../broker/forward.js";
import { headerBytes } from "../broker/headers.js";
import { PROXY_PREFIX, type ProxyTarget, parseProxyTarget } from "../broker/path.js";
import { allowingRules, matchRules } from "../broker/rules.js";
import type { OpenConnection } from "../broker/runtime.js";
import { nowSeconds } from "../clock.js";
import type { Deputy } from "../context.js";
import { checkDpop } from "../tokens/dpop-check.js";
import { splitAuthorization } from "./auth.js";
import { problemType, toDeputyError } from "./errors.js";

/** True for requests the gateway serves. */
export function isProxyRequest(req: IncomingMessage): boolean {
  return req.url?.startsWith(PROXY_PREFIX) === true;
}

interface Call {
  started: number;
  target?: ProxyTarget;
  claims?: AccessTokenClaims;
  connection?: OpenConnection;
  approvalId?: string;
  bodySha256?: string;
}

const CHALLENGES = new Set([
  "ERR_INVALID_TOKEN",
  "ERR_INVALID_DPOP_PROOF",
  "ERR_USE_DPOP_NONCE",
  "ERR_DPOP_REQUIRED",
]);

/** Handles one gateway request; never throws (every failure is answered and audited). */
export function handleProxy(d: Deputy, req: IncomingMessage, res: ServerResponse): void {
  const call: Call = { started: performance.now() };
  run(d, req, res, call).catch((err: unknown) => {
    const e =
      toDeputyError(err) ??
      new DeputyError("ERR_INTERNAL", "internal error in the gateway; the server log has details");
    if (e.code === "ERR_INTERNAL") d.log.error({ err }, "gateway error");
    if (!res.headersSent) writeProblem(d, res, e);
    else res.destroy();
    audit(d, req, call, {
      action: e.code === "ERR_APPROVAL_REQUIRED" ? "broker.call_held" : "broker.call_denied",
      decision: e.code === "ERR_APPROVAL_REQUIRED" ? "info" : "denied",
      status: null,
      details: { code: e.code },
    });
  });
}

async function run(d: Deputy, req: IncomingMessage, res: ServerResponse, call: Call): Promise<void> {
  const method = req.method ?? "GET";
  if (headerBytes(req.rawHeaders) > d.config.brokerMaxHeaderBytes) {
    throw new DeputyError(
      "ERR_PROXY_HEADERS_TOO_LARGE",
      `request headers exceed ${d.config.brokerMaxHeaderBytes} bytes; send fewer or shorter headers`,
    );
  }
  const target = parseProxyTarget(req.url ?? "/");
  call.target = target;

  // 2. Token (audience checked once the connection is known, so unauthenticated callers learn nothing).
  const auth = splitAuthorization(req.headers.authorization);
  if (auth?.scheme !== "dpop") {
    throw new DeputyError(
      auth?.scheme === "bearer" ? "ERR_INVALID_TOKEN" : "ERR_UNAUTHENTICATED",
      "call /proxy with Authorization: DPoP <access token> and a DPoP proof (RFC 9449 §7.1)",
    );
  }
  const token = auth.value;
  let claims: AccessTokenClaims;
  try {
    claims = d.verifiedTokens.verify(token, {
      issuer: d.urls.issuer,
      now: nowSeconds(d.clock),
      leewaySec: 0,
      resolveKey: (kid) => d.keys.publicKey(kid),
    });
  } catch (e) {
    throw new DeputyError(
      "ERR_INVALID_TOKEN",
      `${(e as Error).message}; request a new access token at ${d.urls.tokenEndpoint}`,
      { cause: e },
    );
  }
  call.claims = claims;
  if (!claims.cnf?.jkt) {
    throw new DeputyError(
      "ERR_INVALID_TOKEN",
      `the access token is not DPoP-bound; request one at ${d.urls.tokenEndpoint} with a DPoP proof (RFC 9449 §5)`,
    );
  }

  // 3. DPoP: htu is the proxy URL under the configured issuer, never built from Host or X-Forwarded-*.
  // Its jti is recorded as used in step 6.
  const pathOnly = (req.url ?? "/").split("?")[0]!;
  const dpop = checkDpop(d, req.headers.dpop, {
    htm: method,
    htu: `${d.urls.issuer}${pathOnly}`,
    accessToken: token,
    expectedJkt: claims.cnf.jkt,
  });
  if (!dpop) throw new DeputyError("ERR_DPOP_REQUIRED", "send a DPoP proof for this request (RFC 9449 §7.1)");

  // 4. Revocation (in-memory index), a replay of a proof this process has seen, then the rate
  // limit: after the caller proved it holds the token's key with a proof not used here before (a
  // captured token, or token and proof, cannot spend its agent's allowance) and before the store is
  // read or written, so a flood from one agent costs no connection look-ups and no replay-cache rows.
  if (d.revocations.isRevoked(claims)) throw revoked();
  if (d.broker.recentProofs.has(dpop.replayKey, d.clock.now())) throw replayedProof();
  const wait = d.broker.limiter.take(claims.client_id, Date.now());
  if (wait > 0) {
    throw new DeputyError(
      "ERR_RATE_LIMITED",
      `rate limit reached for agent ${claims.client_id}; retry after ${Math.ceil(wait / 1000)} s (Retry-After)`,
      { extra: { retry_after_ms: wait } },
    );
  }

  // 5. Connection and audience (RFC 8707).
  const connection = await d.broker.connections.get(target.connection);
  if (!connection) {
    throw new DeputyError(
      "ERR_CONNECTION_NOT_FOUND",
      `no connection named ${target.connection}; check the name after /proxy/ (GET /v1/connections lists them for the admin and principals)`,
    );
  }
  call.connection = connection;
  if (claims.aud !== connection.record.audience) {
    throw new DeputyError(
      "ERR_INVALID_TOKEN",
      `the access token is meant for another audience; request a token with resource=${connection.record.audience} for connection ${connection.record.name}`,
    );
  }

  // 6. The token's stored state (another replica's revocation; on SQLite usually a record held in
  // memory, store/sql/token-cache.ts) and the proof's single-use jti, recorded in a store
  // transaction that concurrent calls share a commit with (the store's group commit).
  const [record, fresh] = await Promise.all([
    d.store.tokens.get(claims.jti),
    d.store.transaction((tx) => tx.nonces.consumeOnce(dpop.replayKey, dpop.replayUntil, d.clock.now())),
  ]);
  d.broker.recentProofs.add(dpop.replayKey, dpop.replayUntil);
  if (!record || record.revokedAt !== null) throw revoked();
  if (!fresh) throw replayedProof();

  // 7. Rules.
  const match = matchRules(connection.record.rules, claims.scope.split(" "), method, target.path);
  if (!match) throw notAllowed(connection, claims.scope, method, target.path);

  // 8. Approval: the body is read (up to a limit) so the approval can bind its hash. A presented
  // approval is used up in step 9, together with the call budget.
  let body: Buffer | undefined;
  let presentedApproval: { id: string; call: Parameters<typeof useApproval>[2] } | undefined;
  if (match.approval) {
    body = await readBody(req, d.config.brokerApprovalBodyLimit);
    const bodySha256 = sha256Hex(body);
    call.bodySha256 = bodySha256;
    const url = `${d.urls.issuer}${req.url ?? "/"}`;
    const presented = req.headers[APPROVAL_HEADER];
    const chain = actorChain(claims.act).slice(1);
    if (typeof presented === "string" && presented !== "") {
      // Only a well-formed id is recorded with the call: the header is the agent's own text, and
      // the audit entry must not carry whatever it chose to put there.
      if (isId("apv", presented)) call.approvalId = presented;
      presentedApproval = {
        id: presented,
        call: { agentId: claims.client_id, connectionId: connection.record.id, method, url, bodySha256 },
      };
    } else {
      // Not held when the budget is already spent: nobody should approve a call that cannot run.
      await assertBudgetsLeft(d.store, claims.grant_id, await callBudgets(d, claims.grant_id));
      const held = await holdCall(d, {
        connectionId: connection.record.id,
        connectionName: connection.record.name,
        agentId: claims.client_id,
        chain,
        principalId: claims.sub,
        tokenId: claims.jti,
        grantId: claims.grant_id,
        method,
        url,
        bodySha256,
      });
      call.approvalId = held.id;
      const approvalUrl = `${d.urls.api}/approvals/${held.id}`;
      const expiresAt = new Date(held.expiresAt).toISOString();
      throw new DeputyError(
        "ERR_APPROVAL_REQUIRED",
        `this call needs an approval; repeat the identical request (method, URL and body) with header ${APPROVAL_HEADER_NAME}: ${held.id} once approved at ${approvalUrl} (GET it with ?wait=30 to wait for the decision), before ${expiresAt}`,
        { extra: { approval_id: held.id, approval_url: approvalUrl, expires_at: expiresAt } },
      );
    }
  }

  // 9. Approval and budget, then forward. Both are used up in one transaction, so a call refused
  // for either uses up neither (a budget refusal never burns the approval, and the reverse).
  const budgets = await callBudgets(d, claims.grant_id);
  if (presentedApproval !== undefined || budgets.length > 0) {
    await d.store.transaction(async (tx) => {
      if (presentedApproval) await useApproval(d, presentedApproval.id, presentedApproval.call, tx);
      await chargeCallBudgets(tx, claims.grant_id, budgets);
    });
  }
  const outcome = await forwardCall({
    req,
    res,
    upstream: connection.upstream,
    rawPath: target.rawPath,
    query: target.query,
    timeoutMs: d.config.brokerUpstreamTimeout,
    body,
  }).catch(async (e: unknown) => {
    // The upstream never received the call (refused, unresolvable, TLS failure): what step 9 used
    // up is given back, so the identical retry needs no new approval and costs one call, not two.
    if (neverDelivered(e) && (presentedApproval !== undefined || budgets.length > 0)) {
      await d.store
        .transaction(async (tx) => {
          if (presentedApproval) await tx.broker.restoreApproval(presentedApproval.id);
          for (const b of budgets) await tx.broker.refundCallBudget(b.grantId);
        })
        .catch((err: unknown) =>
          d.log.error({ err }, "giving back an undelivered call's approval and budget failed"),
        );
    }
    throw e;
  });
  audit(d, req, call, {
    action: "broker.call_allowed",
    decision: "allowed",
    status: outcome.status,
    bytesIn: outcome.bytesIn,
    bytesOut: outcome.bytesOut,
    bodySha256: outcome.bodySha256,
    details: { scope: match.scope, ...(outcome.error ? { code: outcome.error.code } : {}) },
  });
}

function replayedProof(): DeputyError {
  return new DeputyError(
    "ERR_INVALID_DPOP_PROOF",
    "DPoP proof jti was already used (replay); sign a new proof, with a fresh jti, for every request",
  );
}

function revoked(): DeputyError {
  return new DeputyError(
    "ERR_INVALID_TOKEN",
    "the access token is revoked; request a new one (refused too if the agent, its grant or its principal was revoked)",
  );
}

/** What the caller needs for a call no rule of its scopes allows: the scopes whose rules would. */
function notAllowed(connection: OpenConnection, scope: string, method: string, path: string): DeputyError {
  const { name, audience, rules } = connection.record;
  const refused = `no rule of connection ${name} allows ${method} ${path} for scopes "${scope}"`;
  const allowing = allowingRules(rules, method, path);
  if (allowing.length === 0) {
    return new DeputyError(
      "ERR_CALL_NOT_ALLOWED",
      `${refused}, nor for any other scope; the call cannot be made unless an admin adds a rule for it`,
    );
  }
  const scopes = allowing.map(
    (r) => `${r.scope} (its rule allows ${r.method} ${r.glob}${r.approval ? ", with an approval" : ""})`,
  );
  return new DeputyError(
    "ERR_CALL_NOT_ALLOWED",
    `${refused}; request a token with audience ${audience} and ${scopes.length === 1 ? "scope" : "one of the scopes"} ${scopes.join(", ")}`,
  );
}

function writeProblem(d: Deputy, res: ServerResponse, e: DeputyError): void {
  const challenge = CHALLENGES.has(e.code);
  const status = challenge ? 401 : e.status;
  const headers: Record<string, string> = {
    "content-type": "application/problem+json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  if (status === 401) {
    headers["www-authenticate"] = challenge
      ? `DPoP error="${e.oauthError}", algs="EdDSA ES256"`
      : 'DPoP algs="EdDSA ES256"';
  }
  const nonce = e.extra?.dpop_nonce;
  if (typeof nonce === "string") headers["dpop-nonce"] = nonce;
  const retry = e.extra?.retry_after_ms;
  if (typeof retry === "number") headers["retry-after"] = String(Math.ceil(retry / 1000)); // RFC 9110 §10.2.3
  const extra = e.extra && !("dpop_nonce" in e.extra) && !("oauth_error" in e.extra) ? e.extra : {};
  const body = JSON.stringify({
    type: problemType(e.code),
    title: e.title,
    status,
    detail: e.message,
    code: e.code,
    ...extra,
  });
  headers["content-length"] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
  void d;
}

function audit(
  d: Deputy,
  req: IncomingMessage,
  call: Call,
  o: {
    action: string;
    decision: "allowed" | "denied" | "info";
    status: number | null;
    bytesIn?: number;
    bytesOut?: number;
    bodySha256?: string;
    details: Record<string, unknown>;
  },
): void {
  const c = call.claims;
  const chain = c ? actorChain(c.act) : [];
  const bodySha256 = o.bodySha256 ?? call.bodySha256;
  const path = (req.url ?? "/").split("?")[0]!;
  d.audit
    .record({
      action: o.action,
      decision: o.decision,
      actor: c
        ? { agent: c.client_id, chain: chain.slice(1), principal: c.sub, kind: "agent" }
        : { agent: null, chain: [], principal: null, kind: "anonymous" },
      target: call.connection?.record.id ?? null,
      resource: call.connection?.record.audience ?? null,
      tokenId: c?.jti ?? null,
      grantId: c?.grant_id ?? null,
      request: { method: req.method ?? "GET", url: path, ...(bodySha256 ? { body_sha256: bodySha256 } : {}) },
      details: {
        connection: call.target?.connection ?? null,
        path: call.target?.path ?? null,
        upstream_status: o.status,
        bytes_in: o.bytesIn ?? 0,
        bytes_out: o.bytesOut ?? 0,
        latency_ms: Math.round((performance.now() - call.started) * 1000) / 1000,
        approval_id: call.approvalId ?? null,
        ...o.details,
      },
    })
    .catch((err: unknown) => d.log.error({ err }, "audit of a broker call failed"));
}
