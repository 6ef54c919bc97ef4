/**
 * The part of agent registration that enrollment, temporary agents and `POST /v1/agents` share:
 * keys, provenance, and the record itself.
 *
 * @example
 * const { record, keys } = await prepareAgent(deputy, { principalId, name, jwks, provenance });
 */
import { DeputyError, newId } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { importAgentKeys } from "../identity/agents.js";
import type { AgentCeiling, AgentKeyRecord, AgentRecord } from "../store/index.js";
import { resolveProvenance, type StatementUse } from "./provenance.js";

export interface PrepareAgentInput {
  principalId: string;
  name: string;
  jwks: { keys: unknown[] };
  provenance?: Record<string, unknown> | undefined;
  requireVerifiedProvenance?: boolean;
  ceiling?: AgentCeiling | null;
  enrollmentId?: string | null;
  temporaryUntil?: number | null;
}

/**
 * Validates keys and provenance (verifying any software statement, bound to these keys when it
 * says so) and builds the agent record. The caller consumes `statementUse` (consumeStatement) in
 * the transaction that creates the agent.
 */
export async function prepareAgent(
  d: Deputy,
  input: PrepareAgentInput,
): Promise<{ record: AgentRecord; keys: AgentKeyRecord[]; statementUse: StatementUse | null }> {
  const now = d.clock.now();
  const id = newId("agt");
  const keys = importAgentKeys(id, input.jwks.keys, now);
  const prov = await resolveProvenance(
    d,
    input.provenance,
    keys.map((k) => k.kid),
  );
  if (input.requireVerifiedProvenance && !prov.verified) {
    throw new DeputyError(
      "ERR_PROVENANCE_REQUIRED",
      "this enrollment requires verified provenance: send provenance.software_statement from a registered issuer",
    );
  }
  const record: AgentRecord = {
    id,
    principalId: input.principalId,
    parentId: null,
    chain: [],
    name: input.name,
    description: null,
    status: "active",
    provenance: prov.selfAsserted,
    createdAt: now,
    revokedAt: null,
    revokeReason: null,
    enrollmentId: input.enrollmentId ?? null,
    ceiling: input.ceiling ?? null,
    verifiedProvenance: prov.verified,
    temporaryUntil: input.temporaryUntil ?? null,
    claimedAt: null,
  };
  return { record, keys, statementUse: prov.use };
}

/** The audit details every registration records about provenance (never the statement itself). */
export function provenanceDetails(a: AgentRecord): Record<string, unknown> {
  return a.verifiedProvenance
    ? {
        provenance: "verified",
        provenance_iss: a.verifiedProvenance.iss,
        provenance_bound: a.verifiedProvenance.bound,
        code_digest: a.verifiedProvenance.code_digest,
      }
    : { provenance: a.provenance ? "self_asserted" : "none" };
}
