/**
 * Resources: registered audiences (APIs, MCP servers) that accept Deputy tokens. Each has an
 * introspection secret, shown once. Deputy's own API is the built-in resource whose audience is
 * the issuer URL.
 *
 * @example
 * const { record, clientSecret } = await createResource(deputy, admin, { audience: "https://api.example", name: "API" });
 */
import { DeputyError, newId } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { hashSecret, newSecret } from "../crypto/secrets.js";
import { type ResourceRecord, type Store, StoreConflictError } from "../store/index.js";
import { actorOf, type Caller, notFound, requireAdmin } from "./caller.js";

export const RESOURCE_SECRET_PREFIX = "drs";

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment. */
export function validateAudience(audience: string): void {
  let url: URL;
  try {
    url = new URL(audience);
  } catch {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      "audience must be an absolute URI (e.g. https://api.example.com)",
    );
  }
  if (url.hash !== "" || audience.includes("#")) {
    throw new DeputyError("ERR_INVALID_REQUEST", "audience must not contain a fragment (RFC 8707 §2)");
  }
}

export async function createResource(
  d: Deputy,
  caller: Caller,
  input: {
    audience: string;
    name: string;
    allowBearer?: boolean | undefined;
    requireProvenance?: boolean | undefined;
    codeDigests?: string[] | undefined;
    acceptUnboundProvenance?: boolean | undefined;
  },
): Promise<{ record: ResourceRecord; clientSecret: string }> {
  requireAdmin(caller, "registering a resource");
  validateAudience(input.audience);
  const clientSecret = newSecret(RESOURCE_SECRET_PREFIX);
  const record: ResourceRecord = {
    id: newId("res"),
    audience: input.audience,
    name: input.name,
    secretHash: hashSecret(clientSecret),
    allowBearer: input.allowBearer ?? false,
    builtin: false,
    createdAt: d.clock.now(),
    requireProvenance: input.requireProvenance ?? false,
    codeDigests: input.codeDigests ? [...new Set(input.codeDigests)] : null,
    acceptUnboundProvenance: input.acceptUnboundProvenance ?? false,
  };
  try {
    await d.store.transaction(async (tx) => {
      await tx.resources.create(record);
      await d.audit.record(
        {
          action: "resource.created",
          decision: "allowed",
          actor: actorOf(caller),
          target: record.id,
          resource: record.audience,
        },
        tx,
      );
    });
  } catch (e) {
    if (e instanceof StoreConflictError) {
      throw new DeputyError(
        "ERR_CONFLICT",
        `a resource with audience ${input.audience} is already registered`,
      );
    }
    throw e;
  }
  return { record, clientSecret };
}

export async function getResource(d: Deputy, _caller: Caller, id: string): Promise<ResourceRecord> {
  const r = await d.store.resources.get(id);
  if (!r) throw notFound("resource", id);
  return r;
}

/** Registers Deputy's own API (audience = issuer) on first start; idempotent. */
export async function ensureBuiltinResource(
  store: Store,
  issuer: string,
  now: number,
): Promise<ResourceRecord> {
  const existing = await store.resources.getByAudience(issuer);
  if (existing) return existing;
  const record: ResourceRecord = {
    id: newId("res"),
    audience: issuer,
    name: "Deputy API",
    secretHash: null,
    allowBearer: false,
    builtin: true,
    createdAt: now,
    requireProvenance: false,
    codeDigests: null,
    acceptUnboundProvenance: false,
  };
  try {
    await store.resources.create(record);
    return record;
  } catch (e) {
    if (e instanceof StoreConflictError) return (await store.resources.getByAudience(issuer))!;
    throw e;
  }
}

/**
 * Updates a resource's provenance requirements (admin): `require_provenance`, the
 * `code_digests` allow-list (null removes it) and `accept_unbound_provenance`. Applies to tokens issued from then on; tokens
 * already issued stay valid until they expire or are revoked.
 *
 * @example
 * await updateResourceProvenance(deputy, admin, "res_…", { requireProvenance: true });
 */
export async function updateResourceProvenance(
  d: Deputy,
  caller: Caller,
  id: string,
  change: {
    requireProvenance?: boolean | undefined;
    codeDigests?: string[] | null | undefined;
    acceptUnboundProvenance?: boolean | undefined;
  },
): Promise<ResourceRecord> {
  requireAdmin(caller, "changing a resource");
  if (!(await d.store.resources.get(id))) throw notFound("resource", id);
  const codeDigests = change.codeDigests ? [...new Set(change.codeDigests)] : change.codeDigests;
  const updated = await d.store.transaction(async (tx) => {
    const r = await tx.resources.updateProvenance(id, {
      requireProvenance: change.requireProvenance,
      codeDigests,
      acceptUnboundProvenance: change.acceptUnboundProvenance,
    });
    if (!r) throw notFound("resource", id);
    await d.audit.record(
      {
        action: "resource.updated",
        decision: "allowed",
        actor: actorOf(caller),
        target: id,
        resource: r.audience,
        details: {
          require_provenance: r.requireProvenance,
          code_digests: r.codeDigests,
          accept_unbound_provenance: r.acceptUnboundProvenance,
        },
      },
      tx,
    );
    return r;
  });
  d.resources.remember(updated);
  return updated;
}
