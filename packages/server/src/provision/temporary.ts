/**
 * Temporary agents: an agent with no account at all gets an identity after a proof of work,
 * confined to the operator's sandbox (its ceiling) and acting for the built-in sandbox principal.
 * A human claims it within `temporaryAgentTtl` through its claim code, or the sweeper revokes
 * and removes it.
 *
 * @example
 * const out = await createTemporaryAgent(deputy, { name, jwks, challenge, nonce }, request.ip);
 * // { agent, grant, claimCode, expiresAt }
 */
import { DeputyError, newId } from "@deputy/protocol";
import { markAudited } from "../audit/record.js";
import type { Deputy } from "../context.js";
import { hashSecret, newSecret } from "../crypto/secrets.js";
import type { AgentRecord, GrantRecord } from "../store/index.js";
import { checkChallenge } from "./pow.js";
import { consumeStatement } from "./provenance.js";
import { clientAddressKey } from "./rate-limit.js";
import { prepareAgent, provenanceDetails } from "./register.js";
import { ensureSandboxPrincipal, sandboxCeiling } from "./sandbox.js";

export const CLAIM_CODE_PREFIX = "dcl";

export interface TemporaryAgentInput {
  name: string;
  jwks: { keys: unknown[] };
  challenge: string;
  nonce: string;
  provenance?: Record<string, unknown> | undefined;
}

export interface TemporaryAgent {
  agent: AgentRecord;
  grant: GrantRecord | null;
  /** Shown once; stored as its SHA-256 only. */
  claimCode: string;
  expiresAt: number;
}

export async function createTemporaryAgent(
  d: Deputy,
  input: TemporaryAgentInput,
  remote: string,
): Promise<TemporaryAgent> {
  const now = d.clock.now();
  if (d.config.temporaryAgentsPerHour <= 0) {
    throw new DeputyError("ERR_FORBIDDEN", "temporary agents are disabled on this server");
  }
  const limiter = d.provisioning.temporaryLimiter;
  const limitKey = clientAddressKey(remote);
  const rateLimited = () =>
    new DeputyError(
      "ERR_RATE_LIMITED",
      `at most ${d.config.temporaryAgentsPerHour} temporary agents per hour from one address`,
      { extra: { retry_after: Math.ceil(limiter.retryAfter(limitKey, now) / 1000) } },
    );
  // Checked here without counting; counted below only with a fresh, solved challenge, so requests
  // that did no work (or replay a used challenge) cannot use up a shared address's allowance.
  if (!limiter.allows(limitKey, now)) throw await refuse(d, rateLimited(), remote);
  let challenge: { expiresAt: number };
  try {
    challenge = checkChallenge(d.provisioning.powKeys, input.challenge, input.nonce, now);
  } catch (e) {
    if (e instanceof DeputyError) throw await refuse(d, e, remote);
    throw e;
  }
  const sandbox = await ensureSandboxPrincipal(d);
  // Disabling the sandbox principal revoked every temporary agent (the principal cascade); it must
  // not be left acting for new ones, active under a disabled principal.
  if ((await d.store.principals.get(sandbox))?.status !== "active") {
    throw new DeputyError(
      "ERR_PRINCIPAL_DISABLED",
      `the sandbox principal ${sandbox} is disabled: this server creates no temporary agents`,
    );
  }
  const ceiling = sandboxCeiling(d);
  for (const aud of ceiling.resources) {
    if (!(await d.resources.byAudience(aud))) {
      throw new DeputyError(
        "ERR_UNAVAILABLE",
        `the sandbox names resource ${aud}, which is not registered (operator: DEPUTY_SANDBOX_RESOURCES)`,
      );
    }
  }
  const expiresAt = now + d.config.temporaryAgentTtl * 1000;
  let prepared: Awaited<ReturnType<typeof prepareAgent>>;
  try {
    prepared = await prepareAgent(d, {
      principalId: sandbox,
      name: input.name,
      jwks: input.jwks,
      provenance: input.provenance,
      ceiling,
      temporaryUntil: expiresAt,
    });
  } catch (e) {
    // Without an account, a statement is the one thing that vouches for the agent: a refused one
    // (another agent's, replayed, forged) is worth a trace.
    if (e instanceof DeputyError && e.code.startsWith("ERR_STATEMENT")) throw await refuse(d, e, remote);
    throw e;
  }
  const { record, keys, statementUse } = prepared;
  const grant: GrantRecord | null =
    ceiling.scopes.length > 0 && ceiling.resources.length > 0
      ? {
          id: newId("grt"),
          agentId: record.id,
          principalId: sandbox,
          parentGrantId: null,
          scopes: ceiling.scopes,
          resources: ceiling.resources,
          expiresAt,
          maxDelegationDepth: 0,
          constraints: {},
          tokensIssued: 0,
          status: "active",
          createdAt: now,
          revokedAt: null,
        }
      : null;
  const claimCode = newSecret(CLAIM_CODE_PREFIX);
  try {
    await d.store.transaction(async (tx) => {
      // Single use: exactly one registration can consume a challenge (NonceStore contract).
      if (!(await tx.nonces.consumeOnce(`pow:${input.challenge}`, challenge.expiresAt, now))) {
        throw new DeputyError("ERR_CHALLENGE_REUSED", "this challenge was already used; get a new one");
      }
      // Before the limiter, which no rollback undoes: a replayed statement takes no allowance.
      await consumeStatement(tx, statementUse, now);
      // Rolled back with the transaction when over the limit: the challenge stays unused.
      if (!limiter.take(limitKey, now)) throw rateLimited();
      await tx.agents.create(record, keys, hashSecret(claimCode));
      if (grant) await tx.grants.create(grant);
      await d.audit.record(
        {
          action: "agent.temporary_created",
          decision: "allowed",
          actor: { agent: record.id, chain: [], principal: sandbox, kind: "anonymous" },
          target: record.id,
          grantId: grant?.id ?? null,
          details: {
            remote,
            expires_at: new Date(expiresAt).toISOString(),
            keys: keys.map((k) => k.kid),
            scopes: ceiling.scopes,
            resources: ceiling.resources,
            ...provenanceDetails(record),
          },
        },
        tx,
      );
    });
  } catch (e) {
    if (
      e instanceof DeputyError &&
      (e.code === "ERR_CHALLENGE_REUSED" ||
        e.code === "ERR_RATE_LIMITED" ||
        e.code.startsWith("ERR_STATEMENT"))
    )
      throw await refuse(d, e, remote);
    throw e;
  }
  return { agent: record, grant, claimCode, expiresAt };
}

/** Anonymous refusals go through the refusal throttle, per client address (as the rate limit counts). */
async function refuse(d: Deputy, error: DeputyError, remote: string): Promise<DeputyError> {
  await d.audit.recordRefusal(
    {
      action: "agent.temporary_refused",
      decision: "denied",
      actor: { agent: null, chain: [], principal: null, kind: "anonymous" },
      details: { error: error.code, remote },
    },
    clientAddressKey(remote),
  );
  // Audited here: the HTTP error handler adds no request.denied for it.
  return markAudited(error);
}
