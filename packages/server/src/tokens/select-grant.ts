/**
 * Which grant a `client_credentials` request draws on. RFC 8707 §2: the `resource` names the
 * audience (one per token here, so `aud` is a single value); RFC 6749 §3.3: an omitted `scope`
 * means the grant's full scope. The effective authority is grant ∩ request.
 *
 * @example
 * const { grant, scopes, resource } = await selectGrant(deputy, agent, form);
 */
import { DeputyError, parseScope } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { checkWithinCeiling } from "../provision/ceiling.js";
import type { AgentRecord, GrantRecord, ResourceRecord } from "../store/index.js";
import type { TokenForm } from "./form.js";

export interface Selection {
  grant: GrantRecord;
  scopes: string[];
  resource: ResourceRecord;
}

export function requestedScopes(form: TokenForm): string[] | null {
  const raw = form.get("scope");
  if (raw === undefined) return null;
  const scopes = parseScope(raw);
  if (scopes === null || scopes.length === 0) {
    throw new DeputyError(
      "ERR_INVALID_SCOPE",
      "scope must be space-separated tokens of printable ASCII (RFC 6749 §3.3)",
    );
  }
  return scopes;
}

/** The single requested resource (RFC 8707), or null when omitted. */
export function requestedResource(form: TokenForm): string | null {
  const resources = form.getAll("resource");
  if (resources.length > 1) {
    throw new DeputyError(
      "ERR_INVALID_TARGET",
      "request one resource per token (the token's aud is a single value)",
    );
  }
  return resources[0] ?? null;
}

export async function selectGrant(d: Deputy, agent: AgentRecord, form: TokenForm): Promise<Selection> {
  const scopes = requestedScopes(form);
  let audience = requestedResource(form);
  const now = d.clock.now();
  const grants = await d.store.grants.activeForAgent(agent.id, now);
  if (audience === null) {
    const audiences = new Set(grants.flatMap((g) => g.resources));
    if (audiences.size !== 1) {
      throw new DeputyError(
        "ERR_INVALID_TARGET",
        audiences.size === 0
          ? "the agent holds no active grant"
          : "name the resource: the agent holds grants for several",
      );
    }
    audience = [...audiences][0]!;
  }
  const resource = await d.resources.byAudience(audience);
  if (!resource) throw new DeputyError("ERR_INVALID_TARGET", `resource ${audience} is not registered`);
  // Checked before the grants, so a sandbox escape gets its own answer rather than "no grant".
  if (agent.ceiling && !agent.ceiling.resources.includes(audience)) checkWithinCeiling(agent, [], [audience]);
  checkProvenanceAccepted(agent, resource);

  const forResource = grants.filter((g) => g.resources.includes(audience));
  if (forResource.length === 0) {
    throw new DeputyError("ERR_INVALID_TARGET", `the agent holds no active grant for resource ${audience}`);
  }
  const covering =
    scopes === null ? forResource : forResource.filter((g) => scopes.every((s) => g.scopes.includes(s)));
  if (covering.length === 0) {
    throw new DeputyError("ERR_INVALID_SCOPE", `scope not granted for ${audience}: ${scopes!.join(" ")}`);
  }
  const valid = covering.filter((g) => (g.constraints.not_before ?? 0) <= now);
  const grant = valid[0];
  if (!grant) throw new DeputyError("ERR_GRANT_NOT_YET_VALID", "the grant's not_before is in the future");
  return { grant, scopes: scopes ?? grant.scopes, resource };
}

/**
 * A resource may demand verified provenance, or a verified `code_digest` from its allow-list;
 * otherwise no token is minted for it (ERR_PROVENANCE_NOT_ACCEPTED, with the reason). Either
 * demand counts only a statement bound to the agent's key (`cnf.jkt`) unless the resource has
 * `acceptUnboundProvenance`: an unbound statement (from an issuer without `require_key_binding`)
 * proves only that someone held it, so a leaked one would pass the allow-list for any agent.
 *
 * @example
 * checkProvenanceAccepted(agent, resource);
 */
export function checkProvenanceAccepted(agent: AgentRecord, resource: ResourceRecord): void {
  if (!resource.requireProvenance && resource.codeDigests === null) return;
  const verified = agent.verifiedProvenance;
  if (resource.requireProvenance && !verified) {
    throw new DeputyError(
      "ERR_PROVENANCE_NOT_ACCEPTED",
      `resource ${resource.audience} requires verified provenance; agent ${agent.id} has ${agent.provenance ? "only self-asserted" : "no"} provenance`,
    );
  }
  if (verified && !verified.bound && !resource.acceptUnboundProvenance) {
    throw new DeputyError(
      "ERR_PROVENANCE_NOT_ACCEPTED",
      `resource ${resource.audience} accepts only provenance bound to the agent's key; the software statement of agent ${agent.id} from ${verified.iss} was not bound (cnf.jkt)`,
    );
  }
  if (resource.codeDigests !== null) {
    const digest = verified?.code_digest ?? null;
    if (digest === null || !resource.codeDigests.includes(digest)) {
      throw new DeputyError(
        "ERR_PROVENANCE_NOT_ACCEPTED",
        digest === null
          ? `resource ${resource.audience} accepts only agents with a verified code_digest from its allow-list`
          : `code_digest ${digest} of agent ${agent.id} is not on the allow-list of resource ${resource.audience}`,
      );
    }
  }
}
