/**
 * The audit ledger's endpoints (DESIGN §4 "Audit log"), plus two bulk reads for verifiers:
 *
 * | route | answers | who |
 * |---|---|---|
 * | `GET /v1/audit/checkpoint` | C2SP signed note, `text/plain` | anyone |
 * | `GET /v1/audit/proofs/inclusion?index=&size=` | `{index, size, hashes}` (RFC 9162 §2.1.3.1) | anyone |
 * | `GET /v1/audit/proofs/consistency?from=&to=` | `{from, to, hashes}` (RFC 9162 §2.1.4.1) | anyone |
 * | `GET /v1/audit/leaves?start=&end=` | stored leaf hashes, 32 bytes each, `application/octet-stream` | anyone |
 * | `GET /v1/audit/entries/{index}` | the exact entry bytes hashed, `application/json` | admin; a principal for its own |
 * | `GET /v1/audit/entries?start=&end=` | entries as JSON Lines, `application/jsonl` | admin |
 * | `GET /v1/audit/events?…` | `{items: [{index, entry}], next_cursor}` | admin; a principal sees its own |
 *
 * Hashes reveal nothing of the entries, so proofs, leaves and checkpoints are public (an outside
 * verifier needs them); entries name agents and principals, so they are not.
 *
 * @example
 * registerAudit(app, deputy);
 */
import { DeputyError, encodeHash } from "@deputy/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { canSeeEntryOrClaimed, listEvents, requireAuditReader } from "../../audit/events.js";
import { consistencyProofFromStore, inclusionProofFromStore } from "../../audit/proofs.js";
import type { Deputy } from "../../context.js";
import { notFound, requireAdmin } from "../../identity/caller.js";
import { authenticateCaller } from "../auth.js";

/** Most entries or leaves one bulk request returns. */
export const MAX_BULK = 10_000;
/** Most events one page returns. */
export const MAX_EVENTS_LIMIT = 1000;

type Query = Record<string, unknown>;

export function registerAudit(app: FastifyInstance, d: Deputy): void {
  app.get("/v1/audit/checkpoint", async (r, reply) => {
    params(r, []);
    const checkpoint = await d.ledger.latestCheckpoint();
    reply.header("cache-control", "no-cache");
    return reply.type("text/plain; charset=utf-8").send(checkpoint.note);
  });

  app.get("/v1/audit/proofs/inclusion", async (r) => {
    const q = params(r, ["index", "size"]);
    const index = int(q, "index");
    const size = int(q, "size");
    const treeSize = (await d.store.auditTree.state()).size;
    if (size === 0) throw invalid("size must be at least 1: the empty tree includes nothing");
    if (size > treeSize) throw invalid(`size ${size} is larger than the tree (${treeSize} entries)`);
    if (index >= size) throw invalid(`index ${index} is not below size ${size}`);
    const hashes = await inclusionProofFromStore(d.store, index, size);
    return { index, size, hashes: hashes.map(encodeHash) };
  });

  app.get("/v1/audit/proofs/consistency", async (r) => {
    const q = params(r, ["from", "to"]);
    const from = int(q, "from");
    const to = int(q, "to");
    const treeSize = (await d.store.auditTree.state()).size;
    // RFC 9162 §2.1.4: a consistency proof is between trees of sizes 0 < from ≤ to.
    if (from === 0) throw invalid("from must be at least 1 (RFC 9162 §2.1.4: 0 < from ≤ to)");
    if (from > to) throw invalid(`from (${from}) is larger than to (${to})`);
    if (to > treeSize) throw invalid(`to ${to} is larger than the tree (${treeSize} entries)`);
    const hashes = await consistencyProofFromStore(d.store, from, to);
    return { from, to, hashes: hashes.map(encodeHash) };
  });

  app.get("/v1/audit/leaves", async (r, reply) => {
    const q = params(r, ["start", "end"]);
    const { start, end } = window(q);
    const treeSize = (await d.store.auditTree.state()).size;
    if (end > treeSize) throw invalid(`end ${end} is larger than the tree (${treeSize} entries)`);
    const leaves = await d.store.auditTree.leaves(start, end);
    return reply.type("application/octet-stream").send(Buffer.concat(leaves));
  });

  app.get<{ Params: { index: string } }>("/v1/audit/entries/:index", async (r, reply) => {
    const caller = await authenticateCaller(d, r);
    requireAuditReader(caller);
    params(r, []);
    const index = int({ index: r.params.index }, "index");
    const record = await d.store.audit.get(index);
    if (!record || !(await canSeeEntryOrClaimed(d, caller, record))) {
      throw notFound("audit entry", String(index));
    }
    // The body is the stored entry itself: byte for byte what the Merkle leaf hashes.
    return reply.type("application/json").send(record.entry);
  });

  app.get("/v1/audit/entries", async (r, reply) => {
    const caller = await authenticateCaller(d, r);
    requireAdmin(caller, "reading the audit log in bulk");
    const { start, end } = window(params(r, ["start", "end"]));
    // Canonical JSON (RFC 8785) escapes control characters, so an entry never holds a newline.
    const { bytes } = await d.store.audit.entriesJsonl(start, end);
    return reply
      .type("application/jsonl; charset=utf-8")
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  });

  app.get("/v1/audit/events", async (r) => {
    const caller = await authenticateCaller(d, r);
    const q = params(r, [
      "agent",
      "principal",
      "action",
      "resource",
      "decision",
      "token",
      "since",
      "until",
      "after",
      "order",
      "limit",
      "cursor",
    ]);
    const decision = text(q, "decision");
    if (decision !== undefined && decision !== "allowed" && decision !== "denied" && decision !== "info") {
      throw invalid("decision must be allowed, denied or info");
    }
    const order = text(q, "order") ?? "asc";
    if (order !== "asc" && order !== "desc") throw invalid("order must be asc or desc");
    const limit = q.limit === undefined ? 50 : int(q, "limit");
    if (limit < 1 || limit > MAX_EVENTS_LIMIT)
      throw invalid(`limit must be an integer 1..${MAX_EVENTS_LIMIT}`);
    return listEvents(d, caller, {
      agent: text(q, "agent"),
      principal: text(q, "principal"),
      action: text(q, "action"),
      resource: text(q, "resource"),
      decision,
      token: text(q, "token"),
      since: instant(q, "since"),
      until: instant(q, "until"),
      after: q.after === undefined ? undefined : int(q, "after"),
      order,
      limit,
      cursor: text(q, "cursor"),
    });
  });
}

function invalid(message: string): DeputyError {
  return new DeputyError("ERR_INVALID_REQUEST", message);
}

/** The query string, refusing unknown and repeated parameters. */
function params(r: FastifyRequest, allowed: readonly string[]): Query {
  const q = (r.query ?? {}) as Query;
  for (const [name, value] of Object.entries(q)) {
    if (!allowed.includes(name)) {
      throw invalid(
        allowed.length > 0
          ? `unknown parameter ${name}; this endpoint takes ${allowed.join(", ")}`
          : `unknown parameter ${name}; this endpoint takes none`,
      );
    }
    if (typeof value !== "string") throw invalid(`${name} must appear once`);
  }
  return q;
}

/** A non-negative safe integer in decimal (no sign, no exponent, no leading zeros). */
function int(q: Query, name: string): number {
  const raw = q[name];
  if (raw === undefined || raw === "") throw invalid(`${name} is required`);
  if (typeof raw !== "string" || !/^(0|[1-9][0-9]{0,15})$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw invalid(`${name} must be an integer between 0 and ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(raw);
}

/** A bulk window [start, end): 0 ≤ start < end, at most {@link MAX_BULK} long. */
function window(q: Query): { start: number; end: number } {
  const start = int(q, "start");
  const end = int(q, "end");
  if (end <= start) throw invalid(`end (${end}) must be larger than start (${start})`);
  if (end - start > MAX_BULK) throw invalid(`at most ${MAX_BULK} entries per request (end - start)`);
  return { start, end };
}

function text(q: Query, name: string): string | undefined {
  const raw = q[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 256) {
    throw invalid(`${name} must be 1 to 256 characters`);
  }
  return raw;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/i;

/** An RFC 3339 date-time or epoch seconds, as epoch ms. */
function instant(q: Query, name: string): number | undefined {
  const raw = text(q, name);
  if (raw === undefined) return undefined;
  if (/^\d{1,11}$/.test(raw)) return Number(raw) * 1000;
  const ms = RFC3339.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw invalid(`${name} must be an RFC 3339 date-time (2026-01-01T00:00:00Z) or epoch seconds`);
  }
  return ms;
}
