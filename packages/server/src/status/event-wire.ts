/**
 * The wire form of a revocation event on `GET /v1/revocations/events` (docs/api.md): one
 * Server-Sent Events message (WHATWG HTML §9.2) per event, its JSON on a single `data:` line.
 *
 * @example
 * revocationEventFrame(event);
 * // 'id: 7\nevent: revocation\ndata: {"id":7,"at":1767225600,"target":"agt_…",…}\n\n'
 */
import type { RevocationEventRecord } from "../store/index.js";

/** The JSON of an event as verifiers receive it (`at` in epoch seconds). */
export interface RevocationEventJson {
  id: number;
  at: number;
  target: string;
  reason: string | null;
  cascade: {
    principals: string[];
    agents: string[];
    grants: string[];
    tokens: Array<{ id: string; exp: number }>;
  };
}

/**
 * The event's JSON for the wire: the stored record with `at` in epoch seconds.
 *
 * @example
 * revocationEventJson(record).at; // 1767225600
 */
export function revocationEventJson(e: RevocationEventRecord): RevocationEventJson {
  return {
    id: e.id,
    at: Math.floor(e.at / 1000),
    target: e.target,
    reason: e.reason,
    cascade: {
      principals: e.cascade.principals,
      agents: e.cascade.agents,
      grants: e.cascade.grants,
      tokens: e.cascade.tokens.map((t) => ({ id: t.id, exp: t.exp })),
    },
  };
}

/**
 * One SSE message. JSON.stringify never emits a raw line break (they are escaped inside strings),
 * so the whole event is one `data:` line, and a `reason` cannot inject SSE fields.
 *
 * @example
 * revocationEventFrame(record); // "id: 7\nevent: revocation\ndata: {…}\n\n"
 */
export function revocationEventFrame(e: RevocationEventRecord): string {
  return `id: ${e.id}\nevent: revocation\ndata: ${JSON.stringify(revocationEventJson(e))}\n\n`;
}

/**
 * A heartbeat: an SSE comment line, ignored by parsers, that shows the stream is alive.
 *
 * @example
 * heartbeatFrame(Date.UTC(2026, 0, 1)); // ": ping 1767225600\n\n"
 */
export function heartbeatFrame(nowMs: number): string {
  return `: ping ${Math.floor(nowMs / 1000)}\n\n`;
}
