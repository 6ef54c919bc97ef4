/**
 * Approvals: a call whose only matching rules say `approval: "required"` is held. The agent gets
 * `403 approval-required` with an `approval_id`; a human (its principal, or the admin) or a
 * reviewer agent (scope `approvals:review`, same principal, sharing no delegation lineage with
 * the requester: neither the requester, nor an ancestor, nor a descendant of one) approves or
 * denies; the agent then repeats the identical call with
 * `Deputy-Approval: <id>`. An approval is bound to the agent, the connection, the method, the
 * full URL (query included) and the SHA-256 of the body; it is used at most once and expires.
 *
 * Every decision yields a receipt: a compact JWS signed with the issuer key, header
 * `typ: "deputy-approval+jwt"`, over the request hash (SHA-256 of the canonical request), the
 * approver and the time. It is stored with the approval and in the audit entry of the decision.
 *
 * @example
 * const apv = await decideApproval(deputy, principalCaller, "apv_…", "approved", "looks right");
 */
import { createHash } from "node:crypto";
import { DeputyError, isId, newId } from "@deputy/protocol";
import { canonicalJson } from "../audit/record.js";
import type { Deputy } from "../context.js";
import { actorOf, type Caller, notFound } from "../identity/caller.js";
import type { ApprovalRecord, ApprovalStatus, Page, PageRequest, Store } from "../store/index.js";

export const SCOPE_APPROVALS_REVIEW = "approvals:review";
export const APPROVAL_RECEIPT_TYP = "deputy-approval+jwt";
export const APPROVAL_HEADER = "deputy-approval";
/** The header as named in refusal messages. */
export const APPROVAL_HEADER_NAME = "Deputy-Approval";

/** SHA-256 (hex) of the canonical JSON of what an approval is bound to. */
export function requestHash(
  a: Pick<ApprovalRecord, "method" | "url" | "bodySha256" | "agentId" | "connectionId">,
): string {
  return createHash("sha256")
    .update(
      canonicalJson({
        agent: a.agentId,
        body_sha256: a.bodySha256,
        connection: a.connectionId,
        method: a.method,
        url: a.url,
      }),
    )
    .digest("hex");
}

/**
 * Whether a caller may see an approval: the admin; the requester's principal; an agent of that
 * principal that made the call (or is an ancestor of the agent that did, so it can long-poll its
 * sub-agents' holds); or a reviewer agent (scope `approvals:review`) of that principal.
 * Deciding is further limited by {@link checkApprover}.
 */
export function canSeeApproval(caller: Caller, a: ApprovalRecord): boolean {
  if (caller.kind === "admin") return true;
  if (caller.principalId !== a.principalId) return false;
  if (caller.kind === "principal") return true;
  return (
    a.agentId === caller.agentId ||
    a.chain.includes(caller.agentId) ||
    caller.scopes.includes(SCOPE_APPROVALS_REVIEW)
  );
}

/**
 * An agent can never decide a call of its own or of its sub-agents (whose chain names it). Nor
 * can any agent that shares a delegation lineage with the requester: a sub-agent of the requester,
 * or of one of the requester's ancestors. Whoever delegated to both controls both (it created the
 * reviewer and holds what it was given), so letting such a reviewer decide would let the parent
 * approve its own or its sub-agents' calls through an agent it made for the purpose. Reviewers
 * must come from another delegation tree (or be a human).
 */
function sharesLineage(
  reviewer: { agentId: string; chain: readonly string[] },
  requester: Pick<ApprovalRecord, "agentId" | "chain">,
): boolean {
  const lineage = new Set([requester.agentId, ...requester.chain]);
  return lineage.has(reviewer.agentId) || reviewer.chain.some((ancestor) => lineage.has(ancestor));
}

function checkApprover(caller: Caller, a: ApprovalRecord): void {
  if (caller.kind !== "agent") return;
  if (!caller.scopes.includes(SCOPE_APPROVALS_REVIEW)) {
    throw new DeputyError(
      "ERR_INSUFFICIENT_SCOPE",
      `reviewing approvals needs scope ${SCOPE_APPROVALS_REVIEW}`,
    );
  }
  if (a.agentId === caller.agentId || a.chain.includes(caller.agentId)) {
    throw new DeputyError(
      "ERR_SELF_APPROVAL",
      "an agent cannot decide a call of its own or of its sub-agents",
    );
  }
  if (sharesLineage(caller, a)) {
    throw new DeputyError(
      "ERR_SELF_APPROVAL",
      "an agent cannot decide a call of an agent in its own delegation chain (its parent, or a sub-agent of the same parent)",
    );
  }
}

export async function getApproval(d: Deputy, caller: Caller, id: string): Promise<ApprovalRecord> {
  const a = await d.store.broker.getApproval(id);
  if (!a || !canSeeApproval(caller, a)) throw notFound("approval", id);
  return a;
}

/** Status as seen now: a pending or approved approval past its expiry reads as "expired". */
export function effectiveStatus(a: ApprovalRecord, now: number): ApprovalStatus | "expired" {
  if ((a.status === "pending" || a.status === "approved") && a.expiresAt <= now) return "expired";
  return a.status;
}

/**
 * Long-poll: answers at once unless the approval is pending, then when it is decided (in this
 * process: at once; in another replica: within a second), or after `waitSec`.
 */
export async function waitForApproval(
  d: Deputy,
  caller: Caller,
  id: string,
  waitSec: number,
  signal: AbortSignal,
): Promise<ApprovalRecord> {
  let a = await getApproval(d, caller, id);
  const deadline = Date.now() + waitSec * 1000;
  while (effectiveStatus(a, d.clock.now()) === "pending" && Date.now() < deadline && !signal.aborted) {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        d.broker.approvals.off(`decided:${id}`, done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(1000, Math.max(0, deadline - Date.now())));
      d.broker.approvals.once(`decided:${id}`, done);
      signal.addEventListener("abort", done, { once: true });
    });
    a = await getApproval(d, caller, id);
  }
  return a;
}

export async function listApprovals(
  d: Deputy,
  caller: Caller,
  filter: { status?: ApprovalStatus | undefined },
  page: PageRequest,
): Promise<Page<ApprovalRecord>> {
  if (caller.kind === "agent" && !caller.scopes.includes(SCOPE_APPROVALS_REVIEW)) {
    throw new DeputyError(
      "ERR_INSUFFICIENT_SCOPE",
      `listing approvals needs scope ${SCOPE_APPROVALS_REVIEW}`,
    );
  }
  const principalId = caller.kind === "admin" ? undefined : caller.principalId;
  return d.store.broker.listApprovals({ status: filter.status, principalId }, page);
}

export async function decideApproval(
  d: Deputy,
  caller: Caller,
  id: string,
  decision: "approved" | "denied",
  reason: string | null,
): Promise<ApprovalRecord> {
  const a = await getApproval(d, caller, id);
  checkApprover(caller, a);
  const now = d.clock.now();
  const status = effectiveStatus(a, now);
  if (status === "expired") throw new DeputyError("ERR_APPROVAL_EXPIRED", `approval ${id} has expired`);
  if (status !== "pending")
    throw new DeputyError("ERR_APPROVAL_NOT_PENDING", `approval ${id} is already ${status}`);
  const approver = {
    kind: caller.kind,
    ...(caller.kind === "agent" ? { agent: caller.agentId, principal: caller.principalId } : {}),
    ...(caller.kind === "principal" ? { principal: caller.principalId } : {}),
  };
  const { jws: receipt } = await d.keys.signAsync(
    { typ: APPROVAL_RECEIPT_TYP },
    {
      iss: d.urls.issuer,
      sub: a.id,
      iat: Math.floor(now / 1000),
      decision,
      request_hash: requestHash(a),
      request: { method: a.method, url: a.url, body_sha256: a.bodySha256, connection: a.connectionName },
      requester: { agent: a.agentId, chain: a.chain, principal: a.principalId },
      approver,
    },
  );
  await d.store.transaction(async (tx) => {
    if (!(await tx.broker.decideApproval(id, { status: decision, at: now, by: approver, reason, receipt }))) {
      throw new DeputyError("ERR_APPROVAL_NOT_PENDING", `approval ${id} was decided concurrently`);
    }
    await d.audit.record(
      {
        action: decision === "approved" ? "approval.approved" : "approval.denied",
        decision: "info",
        actor: actorOf(caller),
        target: id,
        resource: a.connectionName,
        tokenId: caller.kind === "agent" ? caller.tokenId : null,
        grantId: caller.kind === "agent" ? caller.grantId : null,
        request: { method: a.method, url: a.url, body_sha256: a.bodySha256 },
        details: {
          requester: { agent: a.agentId, chain: a.chain, principal: a.principalId },
          request_hash: requestHash(a),
          receipt,
          ...(reason ? { reason } : {}),
        },
      },
      tx,
    );
  });
  d.broker.approvals.emit(`decided:${id}`);
  return { ...a, status: decision, decidedAt: now, decidedBy: approver, reason, receipt };
}

/** Records a held call as a pending approval. */
export async function holdCall(
  d: Deputy,
  call: Omit<
    ApprovalRecord,
    "id" | "status" | "createdAt" | "expiresAt" | "decidedAt" | "decidedBy" | "reason" | "receipt" | "usedAt"
  >,
): Promise<ApprovalRecord> {
  const now = d.clock.now();
  const record: ApprovalRecord = {
    ...call,
    id: newId("apv"),
    status: "pending",
    createdAt: now,
    expiresAt: now + d.config.brokerApprovalTtl * 1000,
    decidedAt: null,
    decidedBy: null,
    reason: null,
    receipt: null,
    usedAt: null,
  };
  await d.store.broker.createApproval(record);
  return record;
}

/**
 * Checks a `Deputy-Approval` presented with a call, then consumes it (single use). Everything
 * must match the held call exactly; a mismatch does not consume it. Pass the transaction `tx`
 * that also charges the call (its budget) so that a call refused there leaves the approval unused.
 */
export async function useApproval(
  d: Deputy,
  id: string,
  call: Pick<ApprovalRecord, "agentId" | "connectionId" | "method" | "url" | "bodySha256">,
  tx: Store = d.store,
): Promise<ApprovalRecord> {
  const wellFormed = isId("apv", id);
  const a = wellFormed ? await tx.broker.getApproval(id) : null;
  // What the agent can always do instead: have this request held for an approval of its own.
  const holdAgain = `send the request without ${APPROVAL_HEADER_NAME} to have it held for an approval`;
  if (!a || a.agentId !== call.agentId) {
    throw new DeputyError(
      "ERR_APPROVAL_NOT_FOUND",
      `${wellFormed ? `no approval ${id} was given to this agent` : `the ${APPROVAL_HEADER_NAME} header is not an approval id (apv_…)`}; ${holdAgain}`,
    );
  }
  if (a.connectionId !== call.connectionId || a.method !== call.method || a.url !== call.url) {
    throw new DeputyError(
      "ERR_APPROVAL_MISMATCH",
      `approval ${id} was given for ${a.method} ${a.url}; repeat exactly that request, or ${holdAgain}`,
    );
  }
  if (a.bodySha256 !== call.bodySha256) {
    throw new DeputyError(
      "ERR_APPROVAL_MISMATCH",
      `approval ${id} was given for another request body (SHA-256 ${a.bodySha256}); repeat the request with that body, or ${holdAgain}`,
    );
  }
  const now = d.clock.now();
  const status = effectiveStatus(a, now);
  const used = () =>
    new DeputyError(
      "ERR_APPROVAL_USED",
      `approval ${id} was already used (it allows one call); ${holdAgain}`,
    );
  if (status === "expired") {
    throw new DeputyError(
      "ERR_APPROVAL_EXPIRED",
      `approval ${id} expired at ${new Date(a.expiresAt).toISOString()}; ${holdAgain}`,
    );
  }
  if (status === "used") throw used();
  if (status !== "approved") {
    const url = `${d.urls.api}/approvals/${id}`;
    throw new DeputyError(
      "ERR_APPROVAL_NOT_GRANTED",
      status === "pending"
        ? `approval ${id} is still pending; wait for the decision (GET ${url}?wait=30) and repeat the request once it is approved`
        : `approval ${id} was ${status} (${url} has the reason); do not repeat this call unless the principal asks for it`,
      { extra: { approval_id: id, approval_status: status } },
    );
  }
  if (!(await tx.broker.consumeApproval(id, now))) throw used();
  return a;
}
