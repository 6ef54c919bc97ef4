/**
 * Connections: an upstream API, the credential Deputy injects into calls to it, and the rules
 * saying which scope allows which calls. Creating one registers its resource (audience
 * `urn:deputy:connection:<name>` unless given) so grants and tokens can name it. The secret is
 * sealed by the vault before it reaches the store and is never returned, logged or audited.
 *
 * @example
 * const c = await createConnection(deputy, admin, {
 *   name: "github", upstream: "https://api.github.com",
 *   auth: { type: "bearer", secret: "ghp_…" },
 *   rules: [{ scope: "issues:read", methods: ["GET"], paths: ["/repos/*\/*\/issues"] }],
 * });
 */
import { DeputyError, newId } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import { actorOf, type Caller, notFound, requireAdmin } from "../identity/caller.js";
import { validateAudience } from "../identity/resources.js";
import {
  type ConnectionAuthType,
  type ConnectionRecord,
  type ConnectionRule,
  type Page,
  type PageRequest,
  type ResourceRecord,
  StoreConflictError,
} from "../store/index.js";
import { validateUpstream } from "./upstream.js";

const RESERVED_HEADERS = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "keep-alive",
  "proxy-connection",
  "expect",
  "dpop",
  "deputy-approval",
]);

export const CONNECTION_AUDIENCE_PREFIX = "urn:deputy:connection:";

export interface CreateConnectionInput {
  name: string;
  upstream: string;
  auth: { type: ConnectionAuthType; name?: string | undefined; secret: string };
  rules: ConnectionRule[];
  audience?: string | undefined;
}

function checkAuth(auth: CreateConnectionInput["auth"]): void {
  if ((auth.type === "header" || auth.type === "query") && !auth.name) {
    throw new DeputyError("ERR_INVALID_REQUEST", `auth.name is required for auth type ${auth.type}`);
  }
  // RFC 9110 §5.1: a field name is a token; and it cannot be one the gateway controls itself.
  if (
    auth.type === "header" &&
    (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/.test(auth.name!) ||
      RESERVED_HEADERS.has(auth.name!.toLowerCase()))
  ) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      "auth.name must be an HTTP header name other than Host, Connection, Content-Length and hop-by-hop fields",
    );
  }
  if ((auth.type === "bearer" || auth.type === "basic") && auth.name !== undefined) {
    throw new DeputyError("ERR_INVALID_REQUEST", `auth.name is not used with auth type ${auth.type}`);
  }
  if (auth.type === "basic" && !auth.secret.includes(":")) {
    throw new DeputyError("ERR_INVALID_REQUEST", 'a basic auth secret is "user:password" (RFC 7617 §2)');
  }
  // RFC 9110 §5.5: a field value may not carry CR, LF or NUL.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (auth.type !== "query" && /[\r\n\u0000]/.test(auth.secret)) {
    throw new DeputyError("ERR_INVALID_REQUEST", "auth.secret must not contain CR, LF or NUL");
  }
}

export async function createConnection(
  d: Deputy,
  caller: Caller,
  input: CreateConnectionInput,
): Promise<ConnectionRecord> {
  requireAdmin(caller, "creating a connection");
  checkAuth(input.auth);
  const upstream = validateUpstream(input.upstream, { allowHttpLoopback: d.config.brokerAllowHttpLoopback });
  const audience = input.audience ?? `${CONNECTION_AUDIENCE_PREFIX}${input.name}`;
  validateAudience(audience);
  if (audience === d.urls.issuer) {
    throw new DeputyError("ERR_INVALID_REQUEST", "a connection cannot use Deputy's own audience");
  }
  const id = newId("con");
  const now = d.clock.now();
  const secret = await d.vault.seal(id, Buffer.from(input.auth.secret, "utf8"));
  try {
    return await d.store.transaction(async (tx) => {
      let resource: ResourceRecord | null = await tx.resources.getByAudience(audience);
      if (resource?.builtin) throw new DeputyError("ERR_INVALID_REQUEST", "that audience is Deputy's own");
      if (!resource) {
        resource = {
          id: newId("res"),
          audience,
          name: `connection ${input.name}`,
          secretHash: null,
          allowBearer: false,
          builtin: false,
          // A connection's resource accepts any agent's provenance unless an admin sets a policy.
          requireProvenance: false,
          codeDigests: null,
          acceptUnboundProvenance: false,
          createdAt: now,
        };
        await tx.resources.create(resource);
      }
      const record: ConnectionRecord = {
        id,
        name: input.name,
        upstream,
        audience,
        resourceId: resource.id,
        authType: input.auth.type,
        authName: input.auth.name ?? null,
        rules: input.rules,
        secret,
        secretVersion: 1,
        secretRotatedAt: now,
        createdAt: now,
      };
      await tx.broker.createConnection(record);
      await d.audit.record(
        {
          action: "connection.created",
          decision: "allowed",
          actor: actorOf(caller),
          target: id,
          resource: audience,
          details: { name: input.name, upstream, auth_type: input.auth.type, rules: input.rules.length },
        },
        tx,
      );
      return record;
    });
  } catch (e) {
    if (e instanceof StoreConflictError) {
      throw new DeputyError("ERR_CONFLICT", `a connection named ${input.name} already exists`);
    }
    throw e;
  }
}

/** By `con_` id or by name. Admins and principals may read (never the secret); agents may not. */
export async function getConnection(d: Deputy, caller: Caller, ref: string): Promise<ConnectionRecord> {
  if (caller.kind === "agent") throw new DeputyError("ERR_FORBIDDEN", "agents cannot read connections");
  const c = ref.startsWith("con_")
    ? await d.store.broker.getConnection(ref)
    : await d.store.broker.getConnectionByName(ref);
  if (!c) throw notFound("connection", ref);
  return c;
}

export async function listConnections(
  d: Deputy,
  caller: Caller,
  page: PageRequest,
): Promise<Page<ConnectionRecord>> {
  if (caller.kind === "agent") throw new DeputyError("ERR_FORBIDDEN", "agents cannot read connections");
  return d.store.broker.listConnections(page);
}

/** Replaces the secret (new data key); the old one is gone once this commits. */
export async function rotateConnectionSecret(
  d: Deputy,
  caller: Caller,
  ref: string,
  newSecret: string,
): Promise<ConnectionRecord> {
  requireAdmin(caller, "rotating a connection's secret");
  const c = await getConnection(d, caller, ref);
  checkAuth({ type: c.authType, ...(c.authName ? { name: c.authName } : {}), secret: newSecret });
  const sealed = await d.vault.seal(c.id, Buffer.from(newSecret, "utf8"));
  const now = d.clock.now();
  const version = await d.store.transaction(async (tx) => {
    const v = await tx.broker.rotateConnectionSecret(c.id, sealed, now);
    if (v === null) throw notFound("connection", ref);
    await d.audit.record(
      {
        action: "connection.secret_rotated",
        decision: "allowed",
        actor: actorOf(caller),
        target: c.id,
        resource: c.audience,
        details: { name: c.name, secret_version: v },
      },
      tx,
    );
    return v;
  });
  d.broker.connections.invalidate(c.name);
  return { ...c, secret: sealed, secretVersion: version, secretRotatedAt: now };
}

/** Deletes the connection (and its sealed secret); its resource stays registered. */
export async function deleteConnection(d: Deputy, caller: Caller, ref: string): Promise<void> {
  requireAdmin(caller, "deleting a connection");
  const c = await getConnection(d, caller, ref);
  await d.store.transaction(async (tx) => {
    if (!(await tx.broker.deleteConnection(c.id))) throw notFound("connection", ref);
    await d.audit.record(
      {
        action: "connection.deleted",
        decision: "allowed",
        actor: actorOf(caller),
        target: c.id,
        resource: c.audience,
        details: { name: c.name },
      },
      tx,
    );
  });
  d.broker.connections.invalidate(c.name);
}
