/**
 * Enrollments: a code a principal (or the admin for it) hands to an agent launcher, so that each
 * agent it starts registers itself with one request and holds its first grant at once, bound to
 * the principal and capped by the enrollment (its agent ceiling, DESIGN §1).
 *
 * The code carries 256 random bits, is shown once and stored as its SHA-256 only. Registrations
 * are counted by one conditional UPDATE inside the registering transaction, so exactly
 * `max_agents` racing registrations succeed and a refused one writes nothing.
 *
 * @example
 * const { record, code } = await createEnrollment(deputy, caller, {
 *   principal: "prn_…", scopes: ["deploy"], resources: ["https://api.example"], maxAgents: 10, expiresIn: 3600,
 * });
 * const { agent, grant } = await enrollAgent(deputy, { code, name: "runner-1", jwks });
 */
import { DeputyError, newId } from "@deputy/protocol";
import { markAudited } from "../audit/record.js";
import type { Deputy } from "../context.js";
import { hashSecret, newSecret } from "../crypto/secrets.js";
import { requireRegistered } from "../grants/create.js";
import { actorOf, type Caller, canSeePrincipal, notFound } from "../identity/caller.js";
import { appendRevocationEvent, publishRevocation, revokeAgentsIn } from "../identity/cascade.js";
import type {
  AgentRecord,
  EnrollmentRecord,
  GrantRecord,
  Page,
  PageRequest,
  RevokedTokenRef,
  Store,
} from "../store/index.js";
import { consumeStatement } from "./provenance.js";
import { clientAddressKey } from "./rate-limit.js";
import { prepareAgent, provenanceDetails } from "./register.js";

export const ENROLLMENT_CODE_PREFIX = "den";
/** Longest an enrollment code may stay usable: 30 days. */
export const MAX_ENROLLMENT_TTL_S = 30 * 86_400;
/** Default lifetime of an enrolled agent's initial grant: 30 days. */
export const DEFAULT_ENROLLED_GRANT_TTL_S = 30 * 86_400;

export interface CreateEnrollmentInput {
  principal: string;
  scopes: string[];
  resources: string[];
  maxAgents: number;
  /** Seconds the code stays usable. */
  expiresIn: number;
  requireProvenance?: boolean | undefined;
}

export async function createEnrollment(
  d: Deputy,
  caller: Caller,
  input: CreateEnrollmentInput,
): Promise<{ record: EnrollmentRecord; code: string }> {
  if (caller.kind === "agent") throw new DeputyError("ERR_FORBIDDEN", "agents cannot create enrollments");
  if (!canSeePrincipal(caller, input.principal)) throw notFound("principal", input.principal);
  const principal = await d.store.principals.get(input.principal);
  if (!principal) throw notFound("principal", input.principal);
  if (principal.status !== "active") {
    throw new DeputyError("ERR_PRINCIPAL_DISABLED", `principal ${principal.id} is disabled`);
  }
  await requireRegistered(d.store, input.resources);
  const now = d.clock.now();
  const code = newSecret(ENROLLMENT_CODE_PREFIX);
  const record: EnrollmentRecord = {
    id: newId("enr"),
    principalId: principal.id,
    codeHash: hashSecret(code),
    scopes: [...new Set(input.scopes)],
    resources: [...new Set(input.resources)],
    maxAgents: input.maxAgents,
    agentsEnrolled: 0,
    requireProvenance: input.requireProvenance ?? false,
    status: "active",
    expiresAt: now + input.expiresIn * 1000,
    createdAt: now,
    revokedAt: null,
  };
  await d.store.transaction(async (tx) => {
    await tx.enrollments.create(record);
    await d.audit.record(
      {
        action: "enrollment.created",
        decision: "allowed",
        actor: actorOf(caller),
        target: record.id,
        details: {
          principal: record.principalId,
          scopes: record.scopes,
          resources: record.resources,
          max_agents: record.maxAgents,
          expires_at: new Date(record.expiresAt).toISOString(),
          require_provenance: record.requireProvenance,
        },
      },
      tx,
    );
  });
  return { record, code };
}

export async function getEnrollment(d: Deputy, caller: Caller, id: string): Promise<EnrollmentRecord> {
  const e = await d.store.enrollments.get(id);
  if (!e || caller.kind === "agent" || !canSeePrincipal(caller, e.principalId))
    throw notFound("enrollment", id);
  return e;
}

export async function listEnrollments(
  d: Deputy,
  caller: Caller,
  filter: { principal?: string | undefined },
  page: PageRequest,
): Promise<Page<EnrollmentRecord>> {
  if (caller.kind === "agent") throw new DeputyError("ERR_FORBIDDEN", "agents cannot list enrollments");
  let principalId = filter.principal;
  if (caller.kind === "principal") {
    if (principalId !== undefined && principalId !== caller.principalId) return { items: [], hasMore: false };
    principalId = caller.principalId;
  }
  return d.store.enrollments.list({ principalId }, page);
}

export interface EnrollmentRevocation {
  enrollment: EnrollmentRecord;
  revoked: { agents: number; grants: number; tokens: number };
  agents: string[];
}

/**
 * Stops new registrations; with `cascade`, also revokes every agent the enrollment created (and
 * their sub-agents, grants and tokens), in the same transaction.
 */
export async function revokeEnrollment(
  d: Deputy,
  caller: Caller,
  id: string,
  opts: { cascade: boolean; reason: string | null },
): Promise<EnrollmentRevocation> {
  await getEnrollment(d, caller, id);
  const now = d.clock.now();
  const changed = await d.store.transaction(async (tx) => {
    await tx.enrollments.revoke(id, now);
    let below = { agents: [] as string[], grants: [] as string[], tokens: [] as RevokedTokenRef[] };
    if (opts.cascade) {
      const direct = await tx.agents.idsByEnrollment(id);
      const all = [...direct];
      for (const a of direct) all.push(...(await tx.agents.descendants(a)));
      if (all.length > 0)
        below = await revokeAgentsIn(tx, all, now, opts.reason ?? `enrollment ${id} revoked`);
    }
    await d.audit.record(
      {
        action: "enrollment.revoked",
        decision: "allowed",
        actor: actorOf(caller),
        target: id,
        details: {
          reason: opts.reason,
          cascade: opts.cascade,
          revoked: { agents: below.agents.length, grants: below.grants.length, tokens: below.tokens.length },
          agents: below.agents,
        },
      },
      tx,
    );
    const reason = opts.reason ?? `enrollment ${id} revoked`;
    return { ...below, reason, ...(await appendRevocationEvent(tx, now, id, reason, below)) };
  });
  await publishRevocation(d, now, id, changed.reason, changed);
  return {
    enrollment: (await d.store.enrollments.get(id))!,
    revoked: { agents: changed.agents.length, grants: changed.grants.length, tokens: changed.tokens.length },
    agents: changed.agents,
  };
}

export interface EnrollAgentInput {
  code: string;
  name: string;
  jwks: { keys: unknown[] };
  provenance?: Record<string, unknown> | undefined;
}

/**
 * Registers an agent with an enrollment code (the code is the credential): the agent and its
 * initial grant (exactly the enrollment's scopes and resources) commit in one transaction with
 * the registration count and the audit entry.
 */
export async function enrollAgent(
  d: Deputy,
  input: EnrollAgentInput,
  remote?: string,
): Promise<{ agent: AgentRecord; grant: GrantRecord; enrollment: EnrollmentRecord }> {
  const enrollment = await d.store.enrollments.getByCodeHash(hashSecret(input.code));
  if (!enrollment) {
    throw await refuse(
      d,
      null,
      new DeputyError("ERR_ENROLLMENT_CODE_INVALID", "unknown enrollment code"),
      remote,
    );
  }
  const now = d.clock.now();
  const unusable = whyUnusable(enrollment, now);
  if (unusable) throw await refuse(d, enrollment, unusable, remote);
  const principal = await d.store.principals.get(enrollment.principalId);
  if (principal?.status !== "active") {
    throw await refuse(
      d,
      enrollment,
      new DeputyError("ERR_PRINCIPAL_DISABLED", `principal ${enrollment.principalId} is disabled`),
      remote,
    );
  }
  let prepared: Awaited<ReturnType<typeof prepareAgent>>;
  try {
    prepared = await prepareAgent(d, {
      principalId: enrollment.principalId,
      name: input.name,
      jwks: input.jwks,
      provenance: input.provenance,
      requireVerifiedProvenance: enrollment.requireProvenance,
      ceiling: { scopes: enrollment.scopes, resources: enrollment.resources },
      enrollmentId: enrollment.id,
    });
  } catch (e) {
    if (
      e instanceof DeputyError &&
      (e.code.startsWith("ERR_STATEMENT") || e.code === "ERR_PROVENANCE_REQUIRED")
    ) {
      throw await refuse(d, enrollment, e, remote);
    }
    throw e;
  }
  const { record, keys, statementUse } = prepared;
  const grant: GrantRecord = {
    id: newId("grt"),
    agentId: record.id,
    principalId: record.principalId,
    parentGrantId: null,
    scopes: enrollment.scopes,
    resources: enrollment.resources,
    expiresAt: now + DEFAULT_ENROLLED_GRANT_TTL_S * 1000,
    maxDelegationDepth: 0,
    constraints: {},
    tokensIssued: 0,
    status: "active",
    createdAt: now,
    revokedAt: null,
  };
  try {
    await d.store.transaction(async (tx) => {
      if (!(await tx.enrollments.takeSlot(enrollment.id, now)))
        throw await slotRefusal(tx, enrollment.id, now);
      await consumeStatement(tx, statementUse, now);
      await tx.agents.create(record, keys);
      await tx.grants.create(grant);
      await d.audit.record(
        {
          action: "agent.enrolled",
          decision: "allowed",
          actor: { agent: record.id, chain: [], principal: record.principalId, kind: "enrollment" },
          target: record.id,
          grantId: grant.id,
          details: {
            enrollment: enrollment.id,
            keys: keys.map((k) => k.kid),
            scopes: grant.scopes,
            resources: grant.resources,
            ...provenanceDetails(record),
          },
        },
        tx,
      );
    });
  } catch (e) {
    if (
      e instanceof DeputyError &&
      (e.code.startsWith("ERR_ENROLLMENT") || e.code.startsWith("ERR_STATEMENT"))
    )
      throw await refuse(d, enrollment, e, remote);
    throw e;
  }
  return { agent: record, grant, enrollment };
}

function whyUnusable(e: EnrollmentRecord, now: number): DeputyError | null {
  if (e.status === "revoked")
    return new DeputyError("ERR_ENROLLMENT_REVOKED", `enrollment ${e.id} is revoked`);
  if (e.expiresAt <= now) return new DeputyError("ERR_ENROLLMENT_EXPIRED", `enrollment ${e.id} has expired`);
  if (e.agentsEnrolled >= e.maxAgents) {
    return new DeputyError(
      "ERR_ENROLLMENT_EXHAUSTED",
      `enrollment ${e.id} has registered its max_agents (${e.maxAgents})`,
    );
  }
  return null;
}

/** Why the counted registration was refused, read inside the same transaction. */
async function slotRefusal(tx: Store, id: string, now: number): Promise<DeputyError> {
  const current = await tx.enrollments.get(id);
  return (current && whyUnusable(current, now)) ?? new DeputyError("ERR_ENROLLMENT_EXHAUSTED");
}

/**
 * Refused registrations are audited too, attributed to the enrollment's principal, through the
 * refusal throttle per enrollment; refusals of unknown codes go through it per client address.
 * Returns `error`, marked as audited (the HTTP error handler then adds no `request.denied`).
 */
async function refuse(
  d: Deputy,
  e: EnrollmentRecord | null,
  error: DeputyError,
  remote: string | undefined,
): Promise<DeputyError> {
  const event = {
    action: "agent.enroll_refused",
    decision: "denied" as const,
    actor: { agent: null, chain: [], principal: e?.principalId ?? null, kind: "anonymous" },
    target: e?.id ?? null,
    details: { error: error.code, ...(remote ? { remote } : {}) },
  };
  // An unknown code is anyone's guess: throttled per address. A refusal on a real enrollment was
  // made with its code, the credential the principal handed out: throttled per enrollment, so
  // guesses from a shared address never push it out of the log, and its summary lands in that
  // principal's trail; a leaked or withdrawn code still cannot grow the log without bound.
  await d.audit.recordRefusal(
    event,
    e ? `enrollment:${e.id}` : remote ? clientAddressKey(remote) : "unknown",
  );
  return markAudited(error);
}
