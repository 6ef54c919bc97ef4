/**
 * Revocation reaching verifiers, at the wire (DESIGN §4): `GET /v1/revocations/events` (framing,
 * auth, cascade contents, resume without gap or duplicate, heartbeat, shutdown) and
 * `GET /v1/status/lists/{n}` (signature, `sub`, bits after revocations, empty ranges, errors).
 * Runs on SQLite, and on PostgreSQL when `DEPUTY_TEST_DATABASE_URL` is set; the clock is fake.
 */
import { createPublicKey, verify } from "node:crypto";
import { connect } from "node:net";
import { inflateSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodeJwt, getToken } from "../../test-support/oauth.js";
import {
  createTestDeputy,
  expectOk,
  type Story,
  setupStory,
  T0,
  TEST_ADMIN_TOKEN,
  TEST_ISSUER,
  type TestDeputy,
} from "../../test-support/server.js";
import { eventData, openEventStream } from "../../test-support/sse.js";
import { STATUS_LIST_SIZE } from "../../tokens/mint.js";

let t: TestDeputy;
let story: Story;
let base: string;
let basic: string;

beforeEach(async () => {
  t = await createTestDeputy({ revocationHeartbeat: 0.2 });
  story = await setupStory(t);
  base = await t.app.listen({ port: 0, host: "127.0.0.1" });
  basic = `Basic ${Buffer.from(`${story.resource.id}:${story.resource.secret}`).toString("base64")}`;
});
afterEach(async () => {
  await t.close();
});

const events = (headers: Record<string, string> = {}, query = "") =>
  openEventStream(`${base}/v1/revocations/events${query}`, { authorization: basic, ...headers });

/** The next `revocation` message: its exact lines and its JSON. */
async function nextEvent(s: Awaited<ReturnType<typeof events>>) {
  const frame = await s.nextMatching((f) => !f.startsWith(":") && !f.startsWith("retry:"));
  return { frame, data: eventData(frame)! };
}

const exp = (jwt: string) => decodeJwt(jwt).payload.exp as number;
const jti = (jwt: string) => decodeJwt(jwt).payload.jti as string;

describe("GET /v1/revocations/events", () => {
  it("refuses callers that are not a resource or the admin, with a problem", async () => {
    const ptok = (await expectOk(t.api("POST", `/v1/principals/${story.principal}/tokens`))).token as string;
    const wrong = `Basic ${Buffer.from(`${story.resource.id}:not-the-secret`).toString("base64")}`;
    for (const authorization of [undefined, wrong, `Bearer ${ptok}`, "Bearer dpa_wrong", "Basic %%%"]) {
      const res = await fetch(`${base}/v1/revocations/events`, {
        headers: authorization ? { authorization } : {},
      });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
      expect(await res.json()).toEqual({
        type: "unauthenticated",
        title: "Authentication required",
        status: 401,
        detail: "authenticate as a resource with HTTP Basic (res_ id and secret), or as the admin",
        code: "ERR_UNAUTHENTICATED",
      });
    }
  });

  it("streams an agent revocation with its whole cascade, framed exactly", async () => {
    const token = await getToken(t, story.agent, story.agentKey);
    const s = await events();
    expect(s.status).toBe(200);
    expect(s.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(s.headers.get("cache-control")).toBe("no-store");
    expect(s.headers.get("content-encoding")).toBeNull();
    expect(await s.next()).toBe("retry: 1000");
    await expectOk(t.api("POST", `/v1/agents/${story.agent}/revoke`, { reason: "compromised runner" }));
    const { frame } = await nextEvent(s);
    const data = {
      id: 1,
      at: T0 / 1000,
      target: story.agent,
      reason: "compromised runner",
      cascade: {
        principals: [],
        agents: [story.agent],
        grants: [story.grant],
        tokens: [{ id: jti(token), exp: exp(token) }],
      },
    };
    expect(frame).toBe(`id: 1\nevent: revocation\ndata: ${JSON.stringify(data)}`);
    await s.close();
  });

  it("is also open to the admin, and carries principal, grant and token cascades", async () => {
    const s = await events({ authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
    const token = await getToken(t, story.agent, story.agentKey);
    await expectOk(t.api("POST", "/v1/revocations", { target: jti(token) }));
    expect((await nextEvent(s)).data).toEqual({
      id: 1,
      at: T0 / 1000,
      target: jti(token),
      reason: null,
      cascade: { principals: [], agents: [], grants: [], tokens: [{ id: jti(token), exp: exp(token) }] },
    });
    const token2 = await getToken(t, story.agent, story.agentKey);
    t.clock.advance(1_000);
    await expectOk(t.api("POST", `/v1/grants/${story.grant}/revoke`, { reason: "done" }));
    expect((await nextEvent(s)).data).toEqual({
      id: 2,
      at: T0 / 1000 + 1,
      target: story.grant,
      reason: "done",
      cascade: {
        principals: [],
        agents: [],
        grants: [story.grant],
        tokens: [{ id: jti(token2), exp: exp(token2) }],
      },
    });
    await expectOk(t.api("POST", `/v1/principals/${story.principal}/disable`, {}));
    expect((await nextEvent(s)).data).toEqual({
      id: 3,
      at: T0 / 1000 + 1,
      target: story.principal,
      reason: null,
      cascade: { principals: [story.principal], agents: [story.agent], grants: [], tokens: [] },
    });
    // Revoking what is already revoked changes nothing and sends nothing.
    await expectOk(t.api("POST", `/v1/agents/${story.agent}/revoke`, {}));
    expect(await t.deputy.store.revocationEvents.latestId()).toBe(3);
    await s.close();
  });

  it("keeps a reason with line breaks inside its one data line (no injected fields)", async () => {
    const s = await events();
    await s.next();
    const reason = "line one\nid: 99\r\nevent: fake\rdata: x";
    await expectOk(t.api("POST", `/v1/agents/${story.agent}/revoke`, { reason }));
    const { frame, data } = await nextEvent(s);
    expect(frame.split("\n")).toHaveLength(3);
    expect(frame.startsWith("id: 1\nevent: revocation\ndata: {")).toBe(true);
    expect(data.reason).toBe(reason);
    await s.close();
  });

  it("names a token that expired within the last minute (verifiers' leeway), not one expired longer", async () => {
    const token = await getToken(t, story.agent, story.agentKey);
    t.clock.advance((exp(token) + 2) * 1000 - T0);
    const s = await events();
    await expectOk(t.api("POST", "/v1/revocations", { target: jti(token) }));
    expect((await nextEvent(s)).data.cascade.tokens).toEqual([{ id: jti(token), exp: exp(token) }]);
    await s.close();
  });

  it("leaves out tokens that have already expired", async () => {
    const token = await getToken(t, story.agent, story.agentKey);
    const fresh = await getToken(t, story.agent, story.agentKey, { scope: "read" });
    expect(exp(fresh)).toBe(exp(token));
    t.clock.advance((exp(token) + 61) * 1000 - T0);
    const late = await getToken(t, story.agent, story.agentKey);
    const s = await events();
    await expectOk(t.api("POST", `/v1/grants/${story.grant}/revoke`, {}));
    expect((await nextEvent(s)).data.cascade.tokens).toEqual([{ id: jti(late), exp: exp(late) }]);
    await s.close();
  });

  it("marks the end of the replay with a comment, after every replayed event (verifiers go live on it)", async () => {
    const a = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: story.principal,
        name: "x",
        jwks: { keys: [story.agentKey.publicJwk] },
      }),
    );
    await expectOk(t.api("POST", `/v1/agents/${a.id}/revoke`, {}));
    await expectOk(t.api("POST", `/v1/grants/${story.grant}/revoke`, {}));
    const s = await events({ "last-event-id": "0" });
    const frames = [await s.next(), await s.next(), await s.next(), await s.next()];
    expect(frames[0]).toBe("retry: 1000");
    expect([eventData(frames[1]!)?.id, eventData(frames[2]!)?.id]).toEqual([1, 2]);
    expect(frames[3]).toMatch(/^: ping \d+$/);
    await s.close();
  });

  it("sends no heartbeat while a replay is still running, even one slower than the heartbeat interval", async () => {
    const a = await expectOk(
      t.api("POST", "/v1/agents", {
        principal: story.principal,
        name: "slow",
        jwks: { keys: [story.agentKey.publicJwk] },
      }),
    );
    await expectOk(t.api("POST", `/v1/agents/${a.id}/revoke`, {}));
    const events_ = t.deputy.store.revocationEvents;
    const after = events_.after.bind(events_);
    // The replay's read takes longer than three heartbeat intervals (0.2 s each).
    events_.after = async (...args) => {
      await new Promise((r) => setTimeout(r, 700));
      return after(...args);
    };
    try {
      const s = await events({ "last-event-id": "0" });
      const frames = [await s.next(3_000), await s.next(3_000), await s.next(3_000)];
      expect(frames[0]).toBe("retry: 1000");
      // A comment before the replayed event would tell a verifier it was live and caught up.
      expect(eventData(frames[1]!)?.id).toBe(1);
      expect(frames[2]).toMatch(/^: ping \d+$/);
      await s.close();
    } finally {
      events_.after = after;
    }
  });

  it("resumes after Last-Event-ID: replay, then live, no gap and no duplicate", async () => {
    const agents: string[] = [];
    for (let i = 0; i < 4; i++) {
      const a = await expectOk(
        t.api("POST", "/v1/agents", {
          principal: story.principal,
          name: `a${i}`,
          jwks: { keys: [story.agentKey.publicJwk] },
        }),
      );
      agents.push(a.id);
    }
    await expectOk(t.api("POST", `/v1/agents/${agents[0]}/revoke`, {}));
    await expectOk(t.api("POST", `/v1/agents/${agents[1]}/revoke`, {}));
    await expectOk(t.api("POST", `/v1/agents/${agents[2]}/revoke`, {}));
    const s = await events({ "last-event-id": "1" });
    expect((await nextEvent(s)).data.target).toBe(agents[1]);
    expect((await nextEvent(s)).data.target).toBe(agents[2]);
    await expectOk(t.api("POST", `/v1/agents/${agents[3]}/revoke`, {}));
    expect((await nextEvent(s)).data).toMatchObject({ id: 4, target: agents[3] });
    await s.close();
    const q = await events({}, "?last_event_id=0");
    expect((await nextEvent(q)).data.id).toBe(1);
    await q.close();
    // Without Last-Event-ID: only what happens next.
    const fresh = await events();
    await fresh.next(); // retry
    await expectOk(t.api("POST", `/v1/agents/${story.agent}/revoke`, {}));
    expect((await nextEvent(fresh)).data.id).toBe(5);
    await fresh.close();
  });

  it("has no gap and no duplicate at the replay/live seam while revocations keep coming", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const a = await expectOk(
        t.api("POST", "/v1/agents", {
          principal: story.principal,
          name: `s${i}`,
          jwks: { keys: [story.agentKey.publicJwk] },
        }),
      );
      ids.push(a.id);
    }
    for (const id of ids.slice(0, 10)) await expectOk(t.api("POST", `/v1/agents/${id}/revoke`, {}));
    // Revocations run while the stream connects and replays.
    const revoking = (async () => {
      for (const id of ids.slice(10)) await expectOk(t.api("POST", `/v1/agents/${id}/revoke`, {}));
    })();
    const s = await events({ "last-event-id": "3" });
    await revoking;
    const seen: number[] = [];
    while (seen.length < 27) seen.push((await nextEvent(s)).data.id);
    expect(seen).toEqual(Array.from({ length: 27 }, (_, i) => i + 4));
    await s.close();
  });

  it("has no HEAD (a stream without a body would only hold a connection): 405, Allow: GET", async () => {
    const res = await fetch(`${base}/v1/revocations/events`, {
      method: "HEAD",
      headers: { authorization: basic },
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });

  it("refuses a malformed or future Last-Event-ID with 400 ERR_INVALID_LAST_EVENT_ID", async () => {
    for (const [id, detail] of [
      ["abc", "Last-Event-ID must be the decimal id of a revocation event (a non-negative integer)"],
      ["-1", "Last-Event-ID must be the decimal id of a revocation event (a non-negative integer)"],
      ["01", "Last-Event-ID must be the decimal id of a revocation event (a non-negative integer)"],
      [
        "99999999999999999",
        "Last-Event-ID must be the decimal id of a revocation event (a non-negative integer)",
      ],
      ["7", "Last-Event-ID 7 is ahead of the newest revocation event (0); it is not from this Deputy"],
    ] as const) {
      const res = await fetch(`${base}/v1/revocations/events`, {
        headers: { authorization: basic, "last-event-id": id },
      });
      expect(res.status, id).toBe(400);
      expect(await res.json()).toEqual({
        type: "invalid-last-event-id",
        title: "Invalid Last-Event-ID",
        status: 400,
        detail,
        code: "ERR_INVALID_LAST_EVENT_ID",
      });
    }
  });

  it("sends a heartbeat comment with the time", async () => {
    const s = await events();
    expect(await s.next()).toBe("retry: 1000");
    expect(await s.next(2_000)).toBe(`: ping ${T0 / 1000}`);
    t.clock.advance(5_000);
    expect(await s.next(2_000)).toBe(`: ping ${T0 / 1000 + 5}`);
    await s.close();
  });

  it("ends open streams when the server closes, without holding up close()", async () => {
    const s = await events();
    await s.next(); // retry
    await s.next(); // caught up
    const started = Date.now();
    await t.app.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect(s.next(2_000)).rejects.toThrow("ended");
    expect(t.deputy.revocationFeed.size).toBe(0);
  });

  it("drops a subscriber when the server closes it, and forgets its subscription", async () => {
    const before = t.deputy.revocationFeed.size;
    const s = await events();
    await s.next();
    expect(t.deputy.revocationFeed.size).toBe(before + 1);
    await s.close();
    const deadline = Date.now() + 2_000;
    while (t.deputy.revocationFeed.size > before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(t.deputy.revocationFeed.size).toBe(before);
  });
});

describe("a subscriber that stops reading", () => {
  it("is disconnected once it falls the configured buffer behind, and its subscription is dropped", async () => {
    await t.close();
    t = await createTestDeputy({ revocationStreamBuffer: 64 * 1024 });
    story = await setupStory(t);
    base = await t.app.listen({ port: 0, host: "127.0.0.1" });
    basic = `Basic ${Buffer.from(`${story.resource.id}:${story.resource.secret}`).toString("base64")}`;
    const before = t.deputy.revocationFeed.size;
    const { port } = new URL(base);
    const socket = connect(Number(port), "127.0.0.1");
    let closed = false;
    socket.on("close", () => {
      closed = true;
    });
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(`GET /v1/revocations/events HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic}\r\n\r\n`);
    const head = await new Promise<string>((resolve) =>
      socket.once("data", (b: Buffer) => resolve(b.toString())),
    );
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // From here on nothing is read: the kernel's socket buffers fill, then the server's own.
    socket.pause();
    expect(t.deputy.revocationFeed.size).toBe(before + 1);
    // Events straight into the log (each ~45 KB: 1,000 token ids), delivered by the feed.
    const tokens = Array.from({ length: 1_000 }, (_, i) => ({
      id: `tok_${String(i).padStart(26, "a")}`,
      exp: 1,
    }));
    let appended = 0;
    while (t.deputy.revocationFeed.size > before && appended < 2_000) {
      await t.deputy.store.transaction((tx) =>
        tx.revocationEvents.append({
          at: T0,
          target: story.agent,
          reason: null,
          cascade: { principals: [], agents: [], grants: [], tokens },
        }),
      );
      await t.deputy.revocationFeed.nudge();
      appended++;
    }
    expect(t.deputy.revocationFeed.size).toBe(before);
    expect(appended).toBeGreaterThan(1);
    expect(appended).toBeLessThan(2_000);
    socket.resume();
    const deadline = Date.now() + 5_000;
    while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  }, 60_000);
});

describe("GET /v1/status/lists/{n}", () => {
  async function statusList(n: number) {
    const res = await t.app.inject({ method: "GET", url: `/v1/status/lists/${n}` });
    return res;
  }

  /** Verifies the Status List Token against the issuer JWKS and answers its claims and bytes. */
  async function verifiedList(n: number) {
    const res = await statusList(n);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers["content-type"]).toBe("application/statuslist+jwt");
    expect(res.headers["cache-control"]).toBe("public, max-age=30");
    const jwt = res.body;
    const { header, payload } = decodeJwt(jwt);
    expect(header.typ).toBe("statuslist+jwt");
    expect(header.alg).toBe("EdDSA");
    const jwks = (await t.app.inject({ method: "GET", url: "/.well-known/jwks.json" })).json();
    const jwk = jwks.keys.find((k: { kid: string }) => k.kid === header.kid);
    expect(jwk).toBeDefined();
    const [h, p, sig] = jwt.split(".");
    const ok = verify(
      null,
      Buffer.from(`${h}.${p}`),
      createPublicKey({ key: jwk, format: "jwk" }),
      Buffer.from(sig!, "base64url"),
    );
    expect(ok).toBe(true);
    const bytes = inflateSync(Buffer.from(payload.status_list.lst, "base64url"));
    expect(bytes.length).toBe(STATUS_LIST_SIZE / 8);
    return { payload, bytes, bit: (i: number) => ((bytes[i >> 3] ?? 0) >> (i & 7)) & 1 };
  }

  it("signs a list whose sub is the URI the tokens carry, with the bits of revoked tokens set", async () => {
    const a = await getToken(t, story.agent, story.agentKey);
    const b = await getToken(t, story.agent, story.agentKey);
    const c = await getToken(t, story.agent, story.agentKey);
    const status = (jwt: string) => decodeJwt(jwt).payload.status.status_list as { idx: number; uri: string };
    expect(status(a).uri).toBe(`${TEST_ISSUER}/v1/status/lists/0`);
    const before = await verifiedList(0);
    expect(before.payload).toEqual({
      iss: TEST_ISSUER,
      sub: `${TEST_ISSUER}/v1/status/lists/0`,
      iat: T0 / 1000,
      exp: T0 / 1000 + 60,
      ttl: 30,
      status_list: { bits: 1, lst: before.payload.status_list.lst },
    });
    expect(before.bytes.every((x) => x === 0)).toBe(true);

    await expectOk(t.api("POST", "/v1/revocations", { target: jti(b) }));
    const one = await verifiedList(0);
    expect([a, b, c].map((x) => one.bit(status(x).idx))).toEqual([0, 1, 0]);
    expect(one.bytes.reduce((n, x) => n + (x === 0 ? 0 : 1), 0)).toBe(1);

    // A cascade (the agent) sets the bits of every token below it.
    await expectOk(t.api("POST", `/v1/agents/${story.agent}/revoke`, {}));
    const all = await verifiedList(0);
    expect([a, b, c].map((x) => all.bit(status(x).idx))).toEqual([1, 1, 1]);
  });

  it("serves an all-valid list for a range with no tokens, and 404 beyond the handed-out range", async () => {
    for (let i = 0; i < 7; i++) await t.deputy.store.tokens.reserveStatusIndexes(10_000);
    const list1 = await verifiedList(1);
    expect(list1.payload.sub).toBe(`${TEST_ISSUER}/v1/status/lists/1`);
    expect(list1.bytes.every((x) => x === 0)).toBe(true);
    const res = await statusList(2);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      type: "status-list-not-found",
      title: "No such status list",
      status: 404,
      detail: "status list 2 does not exist (yet)",
      code: "ERR_STATUS_LIST_NOT_FOUND",
    });
  });

  it("refuses a malformed list number with 400 ERR_INVALID_STATUS_LIST", async () => {
    for (const n of ["x", "-1", "01", "1.5", "1e3", "9999999999"]) {
      const res = await t.app.inject({ method: "GET", url: `/v1/status/lists/${n}` });
      expect(res.statusCode, n).toBe(400);
      expect(res.json()).toEqual({
        type: "invalid-status-list",
        title: "Invalid status list number",
        status: 400,
        detail: "the status list number must be a non-negative integer without leading zeros",
        code: "ERR_INVALID_STATUS_LIST",
      });
    }
  });
});

describe("authorization server metadata", () => {
  it("names the status list and revocation event endpoints", async () => {
    const res = await t.app.inject({ method: "GET", url: "/.well-known/oauth-authorization-server" });
    expect(res.json()).toMatchObject({
      status_list_endpoint: `${TEST_ISSUER}/v1/status/lists`,
      revocation_events_endpoint: `${TEST_ISSUER}/v1/revocations/events`,
    });
  });
});
