import { base64url } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  AUDIENCE,
  dpopProof,
  fakeIssuer,
  ISSUER,
  revocationFrame,
  seededKey,
  T0,
} from "../test-support/fake-issuer.js";
import { VerificationError } from "./errors.js";
import { SseParser } from "./sse.js";
import { inflateZlib, statusAt } from "./status-list.js";
import { createVerifier, type Verifier, type VerifierOptions } from "./verifier.js";

/** These tests are about the token alone; the DPoP proof is the subject of other tests. */
const ELSEWHERE = { dpop: "checked-elsewhere" } as const;

/** vi.waitFor with room for a loaded CI machine (its 1 s default flaked under a load of 6 on 2 cores). */
const eventually = <T>(check: () => T | Promise<T>) => vi.waitFor(check, { timeout: 5000, interval: 10 });
const open: Verifier[] = [];
afterEach(async () => {
  for (const v of open.splice(0)) await v.close();
});

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(VerificationError);
  return (e as VerificationError).code;
}

/** A verifier subscribed to the fake issuer's stream, with short timeouts (real timers, fake clock). */
function setup(opts: Partial<VerifierOptions> = {}) {
  const d = fakeIssuer();
  const errors: string[] = [];
  const v = createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    resourceId: "res_api",
    resourceSecret: "s3cret",
    fetch: d.fetch,
    now: () => d.clock.now,
    onError: (e) => errors.push(e.code ?? e.message),
    ...opts,
    revocation: {
      heartbeatTimeoutMs: 200,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      coverageMarginMs: 0,
      ...opts.revocation,
    },
  });
  open.push(v);
  return { d, v, errors };
}

async function connected(v: Verifier, d: ReturnType<typeof fakeIssuer>, opened = 1) {
  await v.start();
  await eventually(() => {
    expect(d.sse.opened).toBeGreaterThanOrEqual(opened);
    expect(v.health().streamConnected).toBe(true);
  });
}

describe("status list (draft-ietf-oauth-status-list)", () => {
  it("decodes the draft's §4.1 example: lst eNrbuRgAAhcBXQ is 0xB9 0xA3, LSB first", async () => {
    const bytes = await inflateZlib(base64url.decode("eNrbuRgAAhcBXQ") as Uint8Array<ArrayBuffer>);
    expect([...bytes]).toEqual([0xb9, 0xa3]);
    const list = { bits: 1 as const, bytes };
    const revoked = [0, 3, 4, 5, 7, 8, 9, 13, 15];
    for (let i = 0; i < 16; i++) expect(statusAt(list, i)).toBe(revoked.includes(i) ? 1 : 0);
    expect(statusAt(list, 16)).toBeUndefined();
  });

  it("a zip bomb is refused", async () => {
    const { deflateSync } = await import("node:zlib");
    const bomb = deflateSync(new Uint8Array(8 << 20));
    await expect(inflateZlib(new Uint8Array(bomb))).rejects.toThrow(/more than/);
  });
});

describe("SSE parser (WHATWG HTML §9.2.6)", () => {
  it("splits on CRLF, LF and CR across chunks; drops a BOM; keeps comments, ids, retry", () => {
    const events: Array<{ type: string; data: string; id: string }> = [];
    const comments: string[] = [];
    const retries: number[] = [];
    const p = new SseParser({
      onEvent: (e) => events.push({ type: e.type, data: e.data, id: e.lastEventId }),
      onComment: (c) => comments.push(c),
      onRetry: (ms) => retries.push(ms),
    });
    for (const chunk of [
      "\uFEFFretry: 1000\r",
      "\nid: 7\revent: revocation\ndata: a\r\ndata:b\n",
      "\n: ping 1\n",
      "data\n\nid: x\0y\ndata: c\n\nretry: 1x\n",
    ]) {
      p.push(chunk);
    }
    expect(retries).toEqual([1000]);
    expect(comments).toEqual(["ping 1"]);
    expect(events).toEqual([
      { type: "revocation", data: "a\nb", id: "7" },
      { type: "message", data: "", id: "7" },
      { type: "message", data: "c", id: "7" },
    ]);
  });

  it("refuses a line that never ends", () => {
    const p = new SseParser({ onEvent: () => undefined }, 100);
    expect(() => p.push("data: ".padEnd(200, "x"))).toThrow(/longer than/);
  });

  it("refuses an event whose data lines never stop (each short, none blank), and bounds it by the lines too", () => {
    const events: string[] = [];
    const p = new SseParser({ onEvent: (e) => events.push(e.data) }, 100, 1_000);
    // Two events under the cap, one after the other: the count starts again after each dispatch.
    p.push(`data: ${"x".repeat(90)}\n`.repeat(10).replace(/\n$/, "\n\n"));
    expect(() => p.push(`data: ${"y".repeat(90)}\n`.repeat(11))).toThrow(/event longer than 1000/);
    expect(events).toHaveLength(1);
    // Empty `data:` lines cost nothing but a line break each: they count too.
    const q = new SseParser({ onEvent: () => undefined }, 100, 1_000);
    expect(() => {
      for (let i = 0; i < 2_000; i++) q.push("data:\n");
    }).toThrow(/event longer than 1000/);
  });

  it("has a 1 MiB default event cap", () => {
    const p = new SseParser({ onEvent: () => undefined });
    const line = `data: ${"z".repeat(1023)}\n`;
    for (let i = 0; i < 1023; i++) p.push(line);
    expect(() => p.push(line.repeat(2))).toThrow(/event longer than 1048576/);
  });
});

describe("revocation via the event stream", () => {
  it("authenticates as the resource with HTTP Basic", async () => {
    const { d, v } = setup();
    await connected(v, d);
    expect(d.sse.authorizations[0]).toBe(`Basic ${Buffer.from("res_api:s3cret").toString("base64")}`);
  });

  it("a cascade refuses tokens never seen before: agent, parent in the chain, grant, principal, token id", async () => {
    const { d, v } = setup();
    await connected(v, d);
    d.clock.now += 1_000;
    const byAgent = d.token({ client_id: "agt_a", act: { sub: "agt_a" } });
    const byChild = d.token({ client_id: "agt_child", act: { sub: "agt_child", act: { sub: "agt_p" } } });
    const byGrant = d.token({ grant_id: "grt_x" });
    const byPrincipal = d.token({ sub: "prn_bob" });
    const byId = d.token({ jti: "tok_1" });
    const untouched = d.token();
    d.sse.write(revocationFrame(1, { agents: ["agt_a"] }));
    d.sse.write(revocationFrame(2, { agents: ["agt_p"] }, "agt_p"));
    d.sse.write(revocationFrame(3, { grants: ["grt_x"] }, "grt_x"));
    d.sse.write(revocationFrame(4, { principals: ["prn_bob"] }, "prn_bob"));
    d.sse.write(
      revocationFrame(5, { tokens: [{ id: "tok_1", exp: Math.floor(d.clock.now / 1000) + 300 }] }, "tok_1"),
    );
    await eventually(() => expect(v.health().lastEventId).toBe(5));
    for (const t of [byAgent, byChild, byGrant, byPrincipal, byId]) {
      expect(await refusal(v.verifyToken(t, ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
    }
    await v.verifyToken(untouched, ELSEWHERE);
    // Covered tokens are answered by the stream alone: no status list was fetched.
    expect(d.requests.some((u) => u.includes("/status/lists/"))).toBe(false);
  });

  it("a token seen (and cached) before is refused right after its agent's revocation", async () => {
    const { d, v } = setup();
    await connected(v, d);
    d.clock.now += 1_000;
    const token = d.token();
    const req = () => {
      const proof = dpopProof(d.agentKey, {
        htm: "GET",
        htu: `${AUDIENCE}/x`,
        iat: Math.floor(d.clock.now / 1000),
        token,
      });
      return {
        method: "GET",
        url: `${AUDIENCE}/x`,
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      };
    };
    await v.verify(req());
    d.sse.write(revocationFrame(1, { agents: ["agt_deployer"] }, "agt_deployer"));
    await eventually(() => expect(v.health().lastEventId).toBe(1));
    expect(await refusal(v.verify(req()))).toBe("ERR_TOKEN_REVOKED");
  });

  it("tokens issued before the stream connected are checked against the status list", async () => {
    const { d, v } = setup();
    const early = d.token({ status: { status_list: { idx: 9, uri: `${ISSUER}/v1/status/lists/0` } } });
    d.revoked.set(0, [9]);
    d.clock.now += 2_000;
    await connected(v, d);
    expect(await refusal(v.verifyToken(early, ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
  });

  it("garbage frames: reported, connection dropped, resumed with Last-Event-ID, no revocation skipped", async () => {
    const { d, v, errors } = setup();
    await connected(v, d);
    d.sse.write(revocationFrame(1, { agents: ["agt_1"] }));
    await eventually(() => expect(v.health().lastEventId).toBe(1));
    d.sse.write("id: 2\nevent: revocation\ndata: {not json\n\n");
    await eventually(() => expect(d.sse.opened).toBe(2));
    expect(errors).toContain("ERR_EVENT_STREAM_GARBAGE");
    expect(d.sse.lastEventIds.at(-1)).toBe("1");
    await eventually(() => expect(v.health().streamConnected).toBe(true));
    // Shape errors count as garbage too (wrong types in the cascade).
    d.sse.write(
      `id: 2\nevent: revocation\ndata: ${JSON.stringify({ id: 2, target: "x", cascade: { agents: [1] } })}\n\n`,
    );
    await eventually(() => expect(d.sse.opened).toBe(3));
    await eventually(() => expect(v.health().streamConnected).toBe(true));
    d.sse.write(revocationFrame(1, { agents: ["agt_1"] })); // a replay: ignored
    d.sse.write(revocationFrame(2, { agents: ["agt_2"] }));
    await eventually(() => expect(v.health().lastEventId).toBe(2));
    d.clock.now += 1_000;
    expect(
      await refusal(v.verifyToken(d.token({ client_id: "agt_2", act: { sub: "agt_2" } }), ELSEWHERE)),
    ).toBe("ERR_TOKEN_REVOKED");
  });

  it("a stream that is still replaying is not live: the status list decides until the caught-up comment", async () => {
    const { d, v } = setup();
    d.sse.caughtUpOnOpen = false;
    await v.start();
    await eventually(() => expect(d.sse.opened).toBe(1));
    expect(v.health().streamConnected).toBe(false);
    d.revoked.set(0, [5]); // revoked while this verifier was away; its event is not replayed yet
    d.clock.now += 1_000;
    const at = (idx: number) =>
      d.token({ status: { status_list: { idx, uri: `${ISSUER}/v1/status/lists/0` } } });
    expect(await refusal(v.verifyToken(at(5), ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
    d.sse.write(": ping 1\n\n");
    await eventually(() => expect(v.health().streamConnected).toBe(true));
  });

  it("with the default cap, a revocation of 100,000 tokens (one 4.6 MB line) arrives whole", async () => {
    const { d, v, errors } = setup();
    await connected(v, d);
    const tokens = Array.from({ length: 100_000 }, (_, i) => ({
      id: `tok_${String(i).padStart(26, "a")}`,
      exp: Math.floor(T0 / 1000) + 300,
    }));
    const frame = revocationFrame(1, { tokens });
    expect(frame.length).toBeGreaterThan(4_000_000);
    d.sse.write(frame);
    await eventually(() => expect(v.health().lastEventId).toBe(1));
    expect(errors).toEqual([]);
    d.clock.now += 1_000;
    expect(await refusal(v.verifyToken(d.token({ jti: tokens[99_999]!.id }), ELSEWHERE))).toBe(
      "ERR_TOKEN_REVOKED",
    );
  });

  it("an oversized event (endless data lines) drops the connection; resumed after the last event, status list meanwhile", async () => {
    const { d, v, errors } = setup({ revocation: { maxEventLength: 4_096 } });
    await connected(v, d);
    d.sse.write(revocationFrame(1, { agents: ["agt_1"] }));
    await eventually(() => expect(v.health().lastEventId).toBe(1));
    d.sse.status = 503; // keep it down once dropped, so the fallback is what answers
    for (let i = 0; i < 100; i++) d.sse.write(`data: ${"x".repeat(100)}\n`);
    await eventually(() => expect(errors).toContain("ERR_EVENT_STREAM_EVENT_TOO_LARGE"));
    await eventually(() => expect(v.health().streamConnected).toBe(false));
    await eventually(() => expect(d.sse.opened).toBeGreaterThanOrEqual(2)); // reconnecting
    expect(d.sse.lastEventIds.at(-1)).toBe("1");
    expect(v.health().lastEventId).toBe(1);
    // Stream down: the status list decides (a revoked bit refuses, a clear bit accepts).
    d.revoked.set(0, [5]);
    d.clock.now += 1_000;
    const at = (idx: number) =>
      d.token({ status: { status_list: { idx, uri: `${ISSUER}/v1/status/lists/0` } } });
    expect(await refusal(v.verifyToken(at(5), ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
    await v.verifyToken(at(6), ELSEWHERE);
  });

  it("an oversized event the server replays on every reconnection never makes the stream look fresh: without a status list the verifier fails closed past the bound", async () => {
    const { d, v, errors } = setup({ revocation: { maxEventLength: 4_096, maxStalenessMs: 10_000 } });
    await connected(v, d);
    d.sse.write(revocationFrame(1, { agents: ["agt_1"] }));
    await eventually(() => expect(v.health().lastEventId).toBe(1));
    d.clock.now += 1_000;
    const token = d.token();
    d.statusListFails = true;
    await v.verifyToken(token, ELSEWHERE); // live and covering: the stream answers
    const frameAt = v.health().streamLastFrameAt;
    // Event 2 is too big; the server keeps it for every resumption after event 1.
    const oversized = `id: 2\nevent: revocation\ndata: ${"x".repeat(5_000)}\n\n`;
    d.sse.replayOnOpen = oversized;
    d.sse.write(oversized);
    await eventually(() => expect(errors).toContain("ERR_EVENT_STREAM_EVENT_TOO_LARGE"));
    // Past the bound, while the stream keeps reconnecting and receiving the replay.
    d.clock.now += 11_000;
    const opened = d.sse.opened;
    await eventually(() => expect(d.sse.opened).toBeGreaterThanOrEqual(opened + 2));
    expect(d.sse.lastEventIds.at(-1)).toBe("1");
    expect(v.health()).toMatchObject({ streamConnected: false, streamLastFrameAt: frameAt, lastEventId: 1 });
    const e = await v.verifyToken(token, ELSEWHERE).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "ERR_REVOCATION_STATE_STALE", status: 503 });
    expect(errors.filter((c) => c.startsWith("ERR_EVENT_STREAM"))).toEqual(
      expect.arrayContaining(["ERR_EVENT_STREAM_EVENT_TOO_LARGE"]),
    );
    expect(
      errors.every((c) => c === "ERR_EVENT_STREAM_EVENT_TOO_LARGE" || c === "ERR_STATUS_LIST_FETCH"),
    ).toBe(true);
  });

  it("a stalled stream (no heartbeat) is dropped and reconnected; meanwhile the status list answers", async () => {
    const { d, v, errors } = setup();
    await connected(v, d);
    d.clock.now += 1_000;
    const token = d.token({ status: { status_list: { idx: 5, uri: `${ISSUER}/v1/status/lists/0` } } });
    await v.verifyToken(token, ELSEWHERE);
    d.sse.status = 503; // once dropped, it cannot come back for now
    d.clock.now += 500; // past the 200 ms heartbeat timeout with nothing sent
    await eventually(() => expect(errors).toContain("ERR_EVENT_STREAM_STALLED"));
    await eventually(() => expect(v.health().streamConnected).toBe(false));
    await eventually(() => expect(d.sse.opened).toBeGreaterThanOrEqual(2)); // it tries to reconnect
    d.revoked.set(0, [5]);
    d.clock.now += 31_000; // the list fetched while the stream was quiet has outlived its ttl
    expect(await refusal(v.verifyToken(token, ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
    expect(d.requests.some((u) => u.endsWith("/status/lists/0"))).toBe(true);
  });

  it("heartbeats keep a quiet stream live", async () => {
    const { d, v, errors } = setup();
    await connected(v, d);
    for (let i = 0; i < 5; i++) {
      d.clock.now += 150;
      d.sse.write(`: ping ${i}\n`);
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(errors).not.toContain("ERR_EVENT_STREAM_STALLED");
    expect(d.sse.opened).toBe(1);
  });

  it("an event stream that refuses us (401) is retried with backoff, without crashing", async () => {
    const { d, v, errors } = setup();
    d.sse.status = 401;
    await v.start();
    await eventually(() => expect(d.sse.opened).toBeGreaterThanOrEqual(3));
    expect(errors.every((c) => c === "ERR_EVENT_STREAM_CONNECT")).toBe(true);
    // Without the stream the status list still answers.
    await v.verifyToken(d.token(), ELSEWHERE);
  });
});

describe("status list fallback and failing closed", () => {
  function streamless(opts: Partial<VerifierOptions> = {}) {
    return setup({ resourceSecret: undefined as unknown as string, ...opts });
  }

  it("without a stream, a revoked bit refuses and a clear bit accepts (cached for ttl)", async () => {
    const { d, v } = streamless();
    d.revoked.set(0, [3]);
    expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
    await v.verifyToken(
      d.token({ status: { status_list: { idx: 4, uri: `${ISSUER}/v1/status/lists/0` } } }),
      ELSEWHERE,
    );
    const fetches = d.requests.filter((u) => u.endsWith("/lists/0")).length;
    expect(fetches).toBe(1);
  });

  it("status list with a bad signature: refused, reported, and the verifier fails closed", async () => {
    const { d, v, errors } = streamless();
    d.statusListOverride.set(0, () =>
      d.statusListToken(0, {}, seededKey("attacker")).replace(/\.[^.]+$/, (s) => s),
    );
    d.statusListOverride.set(0, () => {
      const good = d.statusListToken(0).split(".");
      const evil = d.statusListToken(0, {}, seededKey("attacker")).split(".");
      return `${good[0]}.${good[1]}.${evil[2]}`;
    });
    expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_REVOCATION_STATE_STALE");
    expect(errors).toContain("ERR_STATUS_LIST_SIGNATURE");
  });

  it("status list with the wrong sub (another list's token): refused", async () => {
    const { d, v, errors } = streamless();
    d.statusListOverride.set(0, () => d.statusListToken(1));
    expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_REVOCATION_STATE_STALE");
    expect(errors).toContain("ERR_STATUS_LIST_SUB");
  });

  it("an expired status list: refused", async () => {
    const { d, v, errors } = streamless();
    d.statusListOverride.set(0, () => d.statusListToken(0, { exp: Math.floor(d.clock.now / 1000) - 60 }));
    expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_REVOCATION_STATE_STALE");
    expect(errors).toContain("ERR_STATUS_LIST_EXPIRED");
  });

  it("a status list of the wrong typ or not from the issuer's origin: refused", async () => {
    const { d, v, errors } = streamless();
    d.statusListOverride.set(0, () =>
      d
        .statusListToken(0)
        .replace(
          /^[^.]+/,
          Buffer.from(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: d.issuerKey.kid })).toString(
            "base64url",
          ),
        ),
    );
    expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_REVOCATION_STATE_STALE");
    const foreign = d.token({ status: { status_list: { idx: 1, uri: "https://evil.test/lists/0" } } });
    expect(await refusal(v.verifyToken(foreign, ELSEWHERE))).toBe("ERR_REVOCATION_STATE_STALE");
    expect(errors).toContain("ERR_STATUS_LIST_FETCH");
  });

  it("fails closed once both the stream and the status list are older than the bound", async () => {
    const { d, v } = setup({ revocation: { maxStalenessMs: 10_000 } });
    await connected(v, d);
    d.clock.now += 1_000;
    const token = d.token();
    await v.verifyToken(token, ELSEWHERE); // live stream
    d.sse.status = 503;
    d.statusListFails = true;
    d.sse.close();
    await eventually(() => expect(v.health().streamConnected).toBe(false));
    // Within the bound the stream's last word still holds.
    d.clock.now += 5_000;
    await v.verifyToken(token, ELSEWHERE);
    d.clock.now += 6_000;
    const e = await v.verifyToken(token, ELSEWHERE).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "ERR_REVOCATION_STATE_STALE", status: 503 });
    // The status list coming back restores service.
    d.statusListFails = false;
    await v.verifyToken(token, ELSEWHERE);
  });

  it("a cached status list keeps answering for its ttl, then is refetched", async () => {
    const { d, v } = streamless();
    await v.verifyToken(d.token(), ELSEWHERE);
    d.revoked.set(0, [3]);
    d.clock.now += 10_000;
    await v.verifyToken(d.token(), ELSEWHERE); // still the cached list (ttl 30 s)
    d.clock.now += 25_000;
    expect(await refusal(v.verifyToken(d.token(), ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
  });
});
