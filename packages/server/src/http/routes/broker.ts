/**
 * `/v1/connections` and `/v1/approvals`: the broker's management API. Connections are written by
 * the admin only; their secrets go in and never come out. Approvals are seen and decided by the
 * admin, the requesting agent's principal, or a reviewer agent of that principal with scope
 * `approvals:review`. The gateway itself (`/proxy`) is served in `http/proxy.ts`.
 *
 * @example
 * registerBroker(app, deputy);
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { decideApproval, listApprovals, waitForApproval } from "../../broker/approvals.js";
import {
  createConnection,
  deleteConnection,
  getConnection,
  listConnections,
  rotateConnectionSecret,
} from "../../broker/connections.js";
import type { Deputy } from "../../context.js";
import { requireAdmin } from "../../identity/caller.js";
import { authenticateCaller } from "../auth.js";
import { listBody, pageRequest } from "../pagination.js";
import {
  ApprovalGetQuery,
  ApprovalListQuery,
  CreateConnectionBody,
  DecisionBody,
  EmptyBody,
  ListQuery,
  parse,
  RotateSecretBody,
} from "../schemas.js";
import { approvalJson, connectionJson } from "../serialize.js";

type P = { id: string };

export function registerBroker(app: FastifyInstance, d: Deputy): void {
  const caller = (r: FastifyRequest) => authenticateCaller(d, r);

  app.post("/v1/connections", async (r, reply) => {
    const c = await caller(r);
    const body = parse(CreateConnectionBody, r.body);
    const record = await createConnection(d, c, {
      name: body.name,
      upstream: body.upstream,
      auth: { type: body.auth.type, name: body.auth.name, secret: body.auth.secret },
      rules: body.rules.map((rule) => ({
        scope: rule.scope,
        methods: rule.methods,
        paths: rule.paths,
        ...(rule.approval ? { approval: rule.approval } : {}),
      })),
      audience: body.audience,
    });
    return reply.code(201).send(connectionJson(record));
  });
  app.get("/v1/connections", async (r) => {
    const c = await caller(r);
    const q = parse(ListQuery, r.query);
    return listBody(await listConnections(d, c, pageRequest(q)), connectionJson);
  });
  app.get<{ Params: P }>("/v1/connections/:id", async (r) =>
    connectionJson(await getConnection(d, await caller(r), r.params.id)),
  );
  app.post<{ Params: P }>("/v1/connections/:id/rotate", async (r) => {
    const c = await caller(r);
    const body = parse(RotateSecretBody, r.body);
    return connectionJson(await rotateConnectionSecret(d, c, r.params.id, body.secret));
  });
  app.delete<{ Params: P }>("/v1/connections/:id", async (r, reply) => {
    await deleteConnection(d, await caller(r), r.params.id);
    return reply.code(204).send();
  });

  // The vault's key rotation: a new key-encryption key, every data key re-wrapped, old key dropped.
  app.post("/v1/vault/rotate", async (r) => {
    const c = await caller(r);
    parse(EmptyBody, r.body ?? undefined);
    requireAdmin(c, "rotating the vault key");
    const result = await d.vault.rotate();
    await d.audit.record({
      action: "vault_key.rotated",
      decision: "allowed",
      actor: { agent: null, chain: [], principal: null, kind: "admin" },
      target: result.keyId,
      details: { rewrapped: result.rewrapped, retired: result.retired },
    });
    return { key_id: result.keyId, rewrapped: result.rewrapped, retired: result.retired };
  });

  app.get("/v1/approvals", async (r) => {
    const c = await caller(r);
    const q = parse(ApprovalListQuery, r.query);
    const now = d.clock.now();
    return listBody(await listApprovals(d, c, { status: q.status }, pageRequest(q)), (a) =>
      approvalJson(a, now),
    );
  });
  app.get<{ Params: P }>("/v1/approvals/:id", async (r) => {
    const c = await caller(r);
    const q = parse(ApprovalGetQuery, r.query);
    const abort = new AbortController();
    r.raw.on("close", () => abort.abort());
    const a = await waitForApproval(d, c, r.params.id, q.wait ?? 0, abort.signal);
    return approvalJson(a, d.clock.now());
  });
  for (const [verb, decision] of [
    ["approve", "approved"],
    ["deny", "denied"],
  ] as const) {
    app.post<{ Params: P }>(`/v1/approvals/:id/${verb}`, async (r) => {
      const c = await caller(r);
      const body = parse(DecisionBody, r.body ?? undefined);
      return approvalJson(
        await decideApproval(d, c, r.params.id, decision, body?.reason ?? null),
        d.clock.now(),
      );
    });
  }
}
