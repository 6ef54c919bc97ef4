/**
 * Audit entries as OCSF events (Open Cybersecurity Schema Framework 1.3.0), for
 * `deputy audit export --format ocsf`, so a SIEM ingests them without a custom parser. The
 * mapping is deliberately small:
 *
 * | entry action | OCSF class | activity |
 * |---|---|---|
 * | `token.issued`, `token.exchanged`, `token.refused` | Authentication (3002, IAM) | 1 Logon: an agent authenticating for a credential |
 * | `token.introspected` | API Activity (6003, Application) | 2 Read |
 * | `*.created`, `*.delegated`, `*.added` | API Activity | 1 Create |
 * | `*.revoked`, `*.disabled`, `*.removed` | API Activity | 4 Delete |
 * | `*.rotated`, anything else | API Activity | 3 Update / 99 Other |
 *
 * Base attributes on every event (required by OCSF): `class_uid`, `category_uid`,
 * `activity_id`, `type_uid` (= class_uid·100 + activity_id), `severity_id` (1 Informational; 3
 * Medium for a denial), `time` (epoch ms), `metadata` (`version`, `product`, `uid` = the entry
 * index, `log_name`, `event_code` = the action, `original_time`); `status_id` (1 Success, 2
 * Failure, 0 Unknown for `info`). Authentication carries the required `user` (the agent, or the
 * calling principal/admin) and `service` (Deputy, with the resource audience); API Activity its
 * required `actor`, `api.operation` (the action) and `src_endpoint` (Deputy records no network
 * addresses, so it names the caller). Deputy's own attribution (agent chain, principal, token and
 * grant ids, the entry's exact index) rides in `unmapped.deputy`.
 *
 * @example
 * toOcsf(41, JSON.parse(entryText)); // { class_uid: 3002, activity_id: 1, type_uid: 300201, … }
 */

export const OCSF_VERSION = "1.3.0";

interface Entry {
  at?: string;
  action?: string;
  decision?: string;
  actor?: {
    agent?: string | null;
    chain?: string[];
    principal?: string | null;
    kind?: string;
    resource_id?: string;
  };
  target?: string | null;
  resource?: string | null;
  token_id?: string | null;
  grant_id?: string | null;
  details?: Record<string, unknown>;
}

const AUTHENTICATION = new Set(["token.issued", "token.exchanged", "token.refused"]);

const TYPES: Record<string, string> = {
  prn: "principal",
  agt: "agent",
  grt: "grant",
  tok: "token",
  res: "resource",
};

/** The OCSF event for one audit entry; see the module docs for the mapping. */
export function toOcsf(index: number, entry: Entry): Record<string, unknown> {
  const action = entry.action ?? "unknown";
  const time = Date.parse(entry.at ?? "") || 0;
  const denied = entry.decision === "denied";
  const status_id = entry.decision === "allowed" ? 1 : denied ? 2 : 0;
  const caller = callerOf(entry);
  const common = {
    severity_id: denied ? 3 : 1,
    time,
    status_id,
    status: status_id === 1 ? "Success" : status_id === 2 ? "Failure" : "Unknown",
    ...(typeof entry.details?.code === "string" ? { status_detail: entry.details.code } : {}),
    message: `${action} (${entry.decision ?? "info"})`,
    metadata: {
      version: OCSF_VERSION,
      product: { name: "Deputy", vendor_name: "Deputy" },
      uid: String(index),
      log_name: "audit",
      event_code: action,
      original_time: entry.at,
    },
    unmapped: {
      deputy: {
        index,
        actor: entry.actor ?? null,
        target: entry.target ?? null,
        resource: entry.resource ?? null,
        token_id: entry.token_id ?? null,
        grant_id: entry.grant_id ?? null,
        details: entry.details ?? {},
      },
    },
  };
  if (AUTHENTICATION.has(action)) {
    return {
      class_uid: 3002,
      class_name: "Authentication",
      category_uid: 3,
      category_name: "Identity & Access Management",
      activity_id: 1,
      activity_name: "Logon",
      type_uid: 300201,
      user: caller,
      service: { name: "Deputy", ...(entry.resource ? { uid: entry.resource } : {}) },
      auth_protocol_id: 99,
      auth_protocol: "OAuth 2.0 (private_key_jwt, DPoP)",
      ...common,
    };
  }
  const activity = apiActivity(action);
  return {
    class_uid: 6003,
    class_name: "API Activity",
    category_uid: 6,
    category_name: "Application Activity",
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: 6003 * 100 + activity.id,
    actor: { user: caller, ...(entry.actor?.agent ? { app_uid: entry.actor.agent } : {}) },
    api: { operation: action, service: { name: "Deputy" } },
    src_endpoint: { name: caller.uid },
    ...(entry.target
      ? { resources: [{ uid: entry.target, type: TYPES[entry.target.slice(0, 3)] ?? "object" }] }
      : {}),
    ...common,
  };
}

function apiActivity(action: string): { id: number; name: string } {
  const verb = action.slice(action.lastIndexOf(".") + 1);
  if (action === "token.introspected") return { id: 2, name: "Read" };
  if (["created", "delegated", "added"].includes(verb)) return { id: 1, name: "Create" };
  if (["revoked", "disabled", "removed"].includes(verb)) return { id: 4, name: "Delete" };
  if (["rotated", "updated"].includes(verb)) return { id: 3, name: "Update" };
  return { id: 99, name: "Other" };
}

/** The OCSF user for whoever acted: the resource (introspection), the agent, the admin, the principal. */
function callerOf(entry: Entry): { uid: string; type_id: number; type: string } {
  const actor = entry.actor ?? {};
  // Introspection: the resource server asked; the agent is whose token it asked about.
  if (actor.kind === "resource" && actor.resource_id)
    return { uid: actor.resource_id, type_id: 3, type: "System" };
  if (actor.agent) return { uid: actor.agent, type_id: 99, type: "AI agent" };
  if (actor.kind === "admin") return { uid: "admin", type_id: 2, type: "Admin" };
  if (actor.resource_id) return { uid: actor.resource_id, type_id: 3, type: "System" };
  if (actor.principal) return { uid: actor.principal, type_id: 1, type: "User" };
  return { uid: actor.kind ?? "anonymous", type_id: 0, type: "Unknown" };
}
