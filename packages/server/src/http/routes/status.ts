/**
 * Revocation reaching verifiers (DESIGN §4): the Token Status List (draft-ietf-oauth-status-list)
 * and the revocation event stream (Server-Sent Events, WHATWG HTML §9.2).
 *
 * `GET /v1/revocations/events` replays from the event log after `Last-Event-ID`, then goes live
 * from the process's revocation feed. It subscribes to the feed before it reads the log, holds
 * live events back until the replay is done, and sends each id once, in order: so the seam
 * between replay and live has neither a gap nor a duplicate.
 *
 * @example
 * registerStatus(app, deputy);
 */
import { DeputyError } from "@deputy/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Deputy } from "../../context.js";
import { heartbeatFrame, revocationEventFrame } from "../../status/event-wire.js";
import { parseListNumber } from "../../status/status-list.js";
import type { RevocationEventRecord } from "../../store/index.js";
import { authenticateResource, isAdminToken, splitAuthorization } from "../auth.js";
import { EventStream } from "../event-stream.js";
import { parse, RevocationEventsQuery } from "../schemas.js";

/** Events read from the log per query during a replay. */
const REPLAY_PAGE = 500;
/** An event id: a plain non-negative decimal integer, at most 2^53 - 1. */
const EVENT_ID = /^(0|[1-9][0-9]{0,15})$/;

export function registerStatus(app: FastifyInstance, d: Deputy): void {
  const streams = new Set<EventStream>();
  // Open streams never end by themselves; close them first so `app.close()` does not wait on them.
  app.addHook("preClose", async () => {
    for (const stream of streams) stream.finish("server");
  });

  app.get<{ Params: { n: string } }>("/v1/status/lists/:n", async (request, reply) => {
    const n = parseListNumber(request.params.n);
    const { jwt, ttl } = await d.statusLists.get(n);
    // draft-ietf-oauth-status-list §8.1: the media type of a Status List Token in JWT format.
    reply.header("cache-control", `public, max-age=${ttl}`).type("application/statuslist+jwt");
    return jwt;
  });

  // No automatic HEAD route: a HEAD would hold a stream open that can never carry a body.
  app.get("/v1/revocations/events", { exposeHeadRoute: false }, async (request, reply) => {
    await authenticateSubscriber(d, request);
    const from = lastEventId(request);
    if (from !== null) {
      const head = await d.store.revocationEvents.latestId();
      if (from > head) {
        throw new DeputyError(
          "ERR_INVALID_LAST_EVENT_ID",
          `Last-Event-ID ${from} is ahead of the newest revocation event (${head}); it is not from this Deputy`,
        );
      }
    }
    const maxBuffer = d.config.revocationStreamBuffer;
    let cursor = from ?? d.revocationFeed.lastId;
    let live = false;
    let held: RevocationEventRecord[] = [];
    let heldBytes = 0;
    let heartbeat: NodeJS.Timeout | undefined;
    let unsubscribe = () => {};
    const stream = new EventStream(reply.raw, {
      maxBuffer,
      onClose: (reason) => {
        unsubscribe();
        clearInterval(heartbeat);
        streams.delete(stream);
        held = [];
        if (reason === "slow") d.log.info("revocation events: dropped a subscriber that fell too far behind");
      },
    });
    const send = (e: RevocationEventRecord) => {
      if (e.id <= cursor) return;
      cursor = e.id;
      stream.write(revocationEventFrame(e));
    };
    unsubscribe = d.revocationFeed.subscribe((e) => {
      if (live) return send(e);
      // Held back while the replay runs; bounded like the socket buffer (checked before adding,
      // so one large event is never the reason to drop a stream).
      if (heldBytes > maxBuffer) return stream.finish("slow");
      held.push(e);
      heldBytes += 200 + 50 * (e.cascade.tokens.length + e.cascade.agents.length + e.cascade.grants.length);
    });
    reply.hijack();
    streams.add(stream);
    stream.open();
    try {
      if (from !== null) {
        for (;;) {
          const events = await d.store.revocationEvents.after(cursor, REPLAY_PAGE);
          for (const e of events) send(e);
          if (stream.isClosed) return;
          await stream.drained();
          if (events.length < REPLAY_PAGE) break;
        }
      }
      live = true;
      for (const e of held) send(e);
      held = [];
      // Caught up: everything up to now is written. Verifiers treat the stream as live only from
      // this comment on, so a token revoked while they were disconnected is never accepted on the
      // strength of a stream that has not replayed its revocation yet.
      stream.write(heartbeatFrame(d.clock.now()));
      // Heartbeats only from here: a comment during the replay would read as "caught up". (The
      // replay itself writes, so a slow one does not leave the connection idle.)
      if (!stream.isClosed) {
        heartbeat = setInterval(
          () => stream.write(heartbeatFrame(d.clock.now())),
          d.config.revocationHeartbeat * 1000,
        );
        heartbeat.unref();
      }
    } catch (err) {
      d.log.warn({ err }, "revocation events: replay failed; closing the stream (the client resumes)");
      stream.finish("server");
    }
  });
}

/** A resource (HTTP Basic, as for introspection) or the admin; anyone else is refused. */
async function authenticateSubscriber(d: Deputy, request: FastifyRequest): Promise<void> {
  const auth = splitAuthorization(request.headers.authorization);
  if (auth?.scheme === "bearer" && isAdminToken(d, auth.value)) return;
  if (await authenticateResource(d, request.headers.authorization)) return;
  throw new DeputyError(
    "ERR_UNAUTHENTICATED",
    "authenticate as a resource with HTTP Basic (res_ id and secret), or as the admin",
  );
}

/** WHATWG HTML §9.2.4: the `Last-Event-ID` header on reconnect; `?last_event_id=` for first connects. */
function lastEventId(request: FastifyRequest): number | null {
  const header = request.headers["last-event-id"];
  const query = parse(RevocationEventsQuery, request.query ?? {}).last_event_id;
  const raw = header ?? query;
  if (raw === undefined) return null;
  if (typeof raw !== "string" || !EVENT_ID.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new DeputyError(
      "ERR_INVALID_LAST_EVENT_ID",
      "Last-Event-ID must be the decimal id of a revocation event (a non-negative integer)",
    );
  }
  return Number(raw);
}
