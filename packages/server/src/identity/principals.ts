/**
 * Principals: the humans and services agents act for. Principal tokens are opaque 256-bit secrets,
 * shown once and stored as SHA-256.
 *
 * @example
 * const p = await createPrincipal(deputy, admin, { type: "human", name: "Ada" });
 * const { token } = await issuePrincipalToken(deputy, admin, p.id);
 */
import { DeputyError, newId } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { hashSecret, newSecret } from "../crypto/secrets.js";
import type { PrincipalRecord, PrincipalType } from "../store/index.js";
import { actorOf, type Caller, canSeePrincipal, notFound, requireAdmin } from "./caller.js";

export const PRINCIPAL_TOKEN_PREFIX = "dpp";

export async function createPrincipal(
  d: Deputy,
  caller: Caller,
  input: { type: PrincipalType; name: string; email?: string | undefined },
): Promise<PrincipalRecord> {
  requireAdmin(caller, "creating a principal");
  const record: PrincipalRecord = {
    id: newId("prn"),
    type: input.type,
    name: input.name,
    email: input.email ?? null,
    status: "active",
    createdAt: d.clock.now(),
    disabledAt: null,
  };
  await d.store.transaction(async (tx) => {
    await tx.principals.create(record);
    await d.audit.record(
      {
        action: "principal.created",
        decision: "allowed",
        actor: actorOf(caller),
        target: record.id,
        details: { type: record.type },
      },
      tx,
    );
  });
  return record;
}

export async function getPrincipal(d: Deputy, caller: Caller, id: string): Promise<PrincipalRecord> {
  const p = canSeePrincipal(caller, id) ? await d.store.principals.get(id) : null;
  if (!p) throw notFound("principal", id);
  return p;
}

/** Issues a new principal token (admin, or the principal itself). The token is returned once. */
export async function issuePrincipalToken(
  d: Deputy,
  caller: Caller,
  principalId: string,
): Promise<{ id: string; token: string; principal: string; created_at: string }> {
  if (caller.kind === "agent") throw new DeputyError("ERR_FORBIDDEN", "agents cannot mint principal tokens");
  const p = await getPrincipal(d, caller, principalId);
  if (p.status !== "active") throw new DeputyError("ERR_PRINCIPAL_DISABLED", `principal ${p.id} is disabled`);
  const token = newSecret(PRINCIPAL_TOKEN_PREFIX);
  const id = newId("ptk");
  const now = d.clock.now();
  await d.store.transaction(async (tx) => {
    await tx.principals.createToken({
      id,
      principalId: p.id,
      tokenHash: hashSecret(token),
      createdAt: now,
      revokedAt: null,
    });
    await d.audit.record(
      {
        action: "principal_token.created",
        decision: "allowed",
        actor: actorOf(caller),
        target: p.id,
        details: { token_id: id },
      },
      tx,
    );
  });
  return { id, token, principal: p.id, created_at: new Date(now).toISOString() };
}
