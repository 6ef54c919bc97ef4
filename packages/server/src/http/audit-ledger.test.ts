/**
 * The audit ledger on the wire (DESIGN §4 "Audit log"): metadata, signed checkpoints, exact entry
 * bytes, proofs that verify with the protocol library, bulk reads, event queries (including a
 * principal's sub-agents through a real delegation), visibility, and every bad input as a clear
 * 400 with a stable code.
 */
import {
  checkWitness,
  decodeHash,
  verifyCheckpoint,
  verifyConsistency,
  verifyEntries,
  verifyInclusion,
} from "@deputy/protocol";
import type { LightMyRequestResponse } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { merkleHasher } from "../audit/hasher.js";
import { type FullStory, runFullStory } from "../audit/test-support/story.js";
import {
  createTestDeputy,
  expectOk,
  TEST_ISSUER,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

let t: TestDeputy;
let s: FullStory;
beforeEach(async () => {
  t = await createTestDeputy();
  s = await runFullStory(t);
  await t.deputy.ledger.integrate();
});
afterEach(async () => t.close());

const get = (url: string, token?: string | null) =>
  t.app.inject({
    method: "GET",
    url,
    ...(token === null ? {} : { headers: { authorization: `Bearer ${token ?? adminToken()}` } }),
  });
const adminToken = () => "dpa_test-admin-token-0123456789abcdefghijklmnop";
const utf8 = (text: string) => new TextEncoder().encode(text);

function problem(res: LightMyRequestResponse, status: number, code: string, detail?: RegExp): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(res.json().code).toBe(code);
  if (detail) expect(res.json().detail).toMatch(detail);
}

async function head() {
  const meta = (await get("/.well-known/oauth-authorization-server", null)).json();
  const note = (await get("/v1/audit/checkpoint", null)).body;
  const key = meta.audit_log_public_key as string;
  return { meta, key, checkpoint: await verifyCheckpoint(note, key, key.split("+")[0]!) };
}

describe("audit ledger endpoints", () => {
  it("publishes the checkpoint endpoint and the log's verifier key, which is not the token key", async () => {
    const meta = (await get("/.well-known/oauth-authorization-server", null)).json();
    expect(meta.audit_checkpoint_endpoint).toBe(`${TEST_ISSUER}/v1/audit/checkpoint`);
    expect(meta.audit_log_public_key).toMatch(
      /^deputy\.test\/deputy-audit\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/,
    );
    const tokenKeyX = (await get("/.well-known/jwks.json", null)).json().keys[0].x as string;
    const logKeyRaw = Buffer.from(meta.audit_log_public_key.split("+")[2], "base64").subarray(1);
    expect(logKeyRaw.toString("base64url")).not.toBe(tokenKeyX);
  });

  it("serves a signed C2SP checkpoint (text/plain) of the whole log, publicly", async () => {
    const res = await get("/v1/audit/checkpoint", null);
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(res.body).toMatch(
      /^deputy\.test\/deputy-audit\n\d+\n[A-Za-z0-9+/]{43}=\n\n\u2014 deputy\.test\/deputy-audit /,
    );
    const { checkpoint } = await head();
    expect(checkpoint.size).toBe(await t.deputy.store.audit.size());
  });

  it("serves the exact entry bytes, which verify with an inclusion proof against the checkpoint", async () => {
    const { checkpoint } = await head();
    for (let index = 0; index < checkpoint.size; index++) {
      const entry = await get(`/v1/audit/entries/${index}`);
      expect(entry.statusCode).toBe(200);
      expect(entry.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(entry.body).toBe((await t.deputy.store.audit.get(index))!.entry);
      const proof = (
        await get(`/v1/audit/proofs/inclusion?index=${index}&size=${checkpoint.size}`, null)
      ).json();
      expect(proof).toMatchObject({ index, size: checkpoint.size });
      await verifyInclusion({
        entryBytes: entry.rawPayload,
        index,
        size: checkpoint.size,
        proof: proof.hashes.map(decodeHash),
        rootHash: checkpoint.rootHash,
      });
    }
  });

  it("proves consistency between any two published sizes, as a witness checks it", async () => {
    const before = (await head()).checkpoint;
    await expectOk(t.api("POST", "/v1/principals", { type: "service", name: "later" }));
    await t.deputy.ledger.integrate();
    const after = (await head()).checkpoint;
    expect(after.size).toBe(before.size + 1);
    const res = (await get(`/v1/audit/proofs/consistency?from=${before.size}&to=${after.size}`, null)).json();
    expect(res).toMatchObject({ from: before.size, to: after.size });
    const proof = res.hashes.map(decodeHash);
    await verifyConsistency({
      from: before.size,
      to: after.size,
      proof,
      oldRoot: before.rootHash,
      newRoot: after.rootHash,
    });
    await checkWitness(before, after, proof);
    expect((await get(`/v1/audit/proofs/consistency?from=3&to=3`, null)).json()).toEqual({
      from: 3,
      to: 3,
      hashes: [],
    });
  });

  it("bulk: entries as JSON Lines (admin) and the stored leaf hashes (public) rebuild the signed root", async () => {
    const { checkpoint } = await head();
    const bulk = await get(`/v1/audit/entries?start=0&end=${checkpoint.size}`);
    expect(bulk.headers["content-type"]).toBe("application/jsonl; charset=utf-8");
    const lines = bulk.body.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(checkpoint.size);
    verifyEntries(
      { entries: lines.map(utf8), size: checkpoint.size, rootHash: checkpoint.rootHash },
      merkleHasher,
    );
    const leaves = await get(`/v1/audit/leaves?start=0&end=${checkpoint.size}`, null);
    expect(leaves.headers["content-type"]).toBe("application/octet-stream");
    expect(leaves.rawPayload.length).toBe(32 * checkpoint.size);
    for (const [i, line] of lines.entries()) {
      expect(
        Buffer.from(merkleHasher.leaf(utf8(line))).equals(leaves.rawPayload.subarray(32 * i, 32 * i + 32)),
      ).toBe(true);
    }
    // Past the end of the log: fewer lines, never an error (the verifier counts them).
    const tail = await get(`/v1/audit/entries?start=${checkpoint.size - 1}&end=${checkpoint.size + 5}`);
    expect(tail.body.split("\n").filter(Boolean)).toHaveLength(1);
  });
});

describe("audit events", () => {
  const events = async (query: string, token?: string) => {
    const res = await get(`/v1/audit/events${query}`, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as {
      items: Array<{ index: number; entry: Record<string, any> }>;
      next_cursor: string | null;
    };
  };

  it("'everything done for principal P' includes its sub-agent's actions through a real delegation", async () => {
    const page = await events(`?principal=${s.principal}&limit=1000`);
    const byAgent = (a: string) =>
      page.items.filter((i) => i.entry.actor.agent === a).map((i) => i.entry.action);
    expect(byAgent(s.sub)).toEqual(expect.arrayContaining(["token.issued", "token.revoked"]));
    expect(page.items.find((i) => i.entry.actor.agent === s.sub)?.entry.actor.chain).toEqual([s.agent]);
    expect(page.items.every((i) => i.entry.actor.principal === s.principal)).toBe(true);
    // The sub-agent alone, and "what did agent X do".
    const sub = await events(`?agent=${s.sub}`);
    expect(sub.items.length).toBeGreaterThan(0);
    expect(sub.items.every((i) => i.entry.actor.agent === s.sub)).toBe(true);
  });

  it("filters by action, resource, decision, token and time, each an exact match in index order", async () => {
    const all = (await events("?limit=1000")).items;
    expect(all.map((i) => i.index)).toEqual(all.map((_, n) => n));
    const check = async (query: string, pred: (e: Record<string, any>) => boolean) => {
      const got = (await events(`${query}&limit=1000`)).items.map((i) => i.index);
      expect(got).toEqual(all.filter((i) => pred(i.entry)).map((i) => i.index));
      expect(got.length).toBeGreaterThan(0);
    };
    await check("?action=token.issued", (e) => e.action === "token.issued");
    await check(`?resource=${encodeURIComponent(TEST_RESOURCE)}`, (e) => e.resource === TEST_RESOURCE);
    await check("?decision=denied", (e) => e.decision === "denied");
    await check(`?token=${s.tokenIds[0]}`, (e) => e.token_id === s.tokenIds[0]);
    await check(
      `?agent=${s.agent}&decision=allowed`,
      (e) => e.actor.agent === s.agent && e.decision === "allowed",
    );
    const at = all[5]!.entry.at as string;
    await check(`?since=${at}&until=${at}`, (e) => e.at === at);
    const later = new Date(Date.parse(at) + 1000).toISOString();
    expect((await events(`?since=${later}`)).items).toEqual([]);
  });

  it("pages with an opaque cursor, oldest first or newest first", async () => {
    const all = (await events("?limit=1000")).items.map((i) => i.index);
    const seen: number[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page = await events(`?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.items.map((i) => i.index));
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(all);
    const newest = await events("?order=desc&limit=2");
    expect(newest.items.map((i) => i.index)).toEqual([all.at(-1), all.at(-2)]);
    const next = await events(`?cursor=${newest.next_cursor}&limit=2`);
    expect(next.items.map((i) => i.index)).toEqual([all.at(-3), all.at(-4)]);
    const after = await events(`?after=${all.at(-3)}`);
    expect(after.items.map((i) => i.index)).toEqual([all.at(-2), all.at(-1)]);
  });

  it("a principal token sees only its own entries; other principals' are invisible; bulk is admin-only", async () => {
    const other = await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Eve" }));
    const { token: eve } = await expectOk(t.api("POST", `/v1/principals/${other.id}/tokens`));
    await t.deputy.ledger.integrate();
    const mine = await events("?limit=1000", s.principalToken);
    expect(mine.items.length).toBeGreaterThan(0);
    expect(mine.items.every((i) => i.entry.actor.principal === s.principal)).toBe(true);
    expect((await events(`?principal=${s.principal}`, eve)).items).toEqual([]);
    // By agent or token id (the integrator's id index below the tree, a scan past it): the admin
    // and the owner see the entries, another principal sees none, on either side of the tree.
    const agentQuery = `?agent=${s.agent}&limit=1000`;
    const tokenQuery = `?token=${s.tokenIds[0]}&limit=1000`;
    expect((await events(agentQuery)).items.length).toBeGreaterThan(0);
    expect((await events(tokenQuery)).items.length).toBeGreaterThan(0);
    // An entry about the same agent and token, past the integrated tree (unless the ledger's own
    // nudge integrates it first: either way it must be answered alike).
    const past = await t.deputy.audit.record({
      action: "token.introspected",
      decision: "allowed",
      actor: { agent: s.agent, chain: [], principal: s.principal, kind: "resource" },
      tokenId: s.tokenIds[0]!,
      details: { active: true },
    });
    for (const q of [agentQuery, tokenQuery]) {
      const theirs = (await events(q, s.principalToken)).items;
      expect(theirs.at(-1)?.index).toBe(past);
      expect(theirs).toEqual((await events(q)).items);
    }
    for (const q of [agentQuery, tokenQuery]) expect((await events(q, eve)).items).toEqual([]);
    await t.deputy.ledger.integrate();
    for (const q of [agentQuery, tokenQuery]) expect((await events(q, eve)).items).toEqual([]);
    // By action, resource or decision (on SQLite the same key index, on PostgreSQL column
    // indexes): an entry of Eve's that every one of these filters matches stays hers alone, on
    // either side of the index's reach.
    const hers = await t.deputy.audit.record({
      action: "token.introspected",
      decision: "denied",
      actor: { agent: null, chain: [], principal: other.id, kind: "resource" },
      resource: TEST_RESOURCE,
      details: { active: false },
    });
    const ours = await t.deputy.audit.record({
      action: "token.introspected",
      decision: "denied",
      actor: { agent: s.agent, chain: [], principal: s.principal, kind: "resource" },
      resource: TEST_RESOURCE,
      details: { active: false },
    });
    const byKey = [
      "?action=token.introspected&limit=1000",
      `?resource=${encodeURIComponent(TEST_RESOURCE)}&limit=1000`,
      "?decision=denied&limit=1000",
    ];
    const indexed = async () =>
      (await t.deputy.store.auditTree.indexedSize()) >= (await t.deputy.store.audit.size());
    for (const round of ["past the index", "through the index"]) {
      if (round === "through the index") {
        // The second run finds the log idle and indexes it to its end.
        await t.deputy.ledger.integrate();
        await t.deputy.ledger.integrate();
        expect(await indexed()).toBe(true);
      }
      for (const q of byKey) {
        expect(
          (await events(q, eve)).items.map((i) => i.index),
          `${q} ${round}`,
        ).toEqual([hers]);
        const theirs = (await events(q, s.principalToken)).items;
        expect(
          theirs.map((i) => i.index),
          `${q} ${round}`,
        ).toContain(ours);
        expect(
          theirs.every((i) => i.entry.actor.principal === s.principal),
          `${q} ${round}`,
        ).toBe(true);
        expect(
          (await events(q)).items.map((i) => i.index),
          `${q} ${round}`,
        ).toEqual(expect.arrayContaining([hers, ours]));
      }
    }
    const own = mine.items[0]!.index;
    expect((await get(`/v1/audit/entries/${own}`, s.principalToken)).statusCode).toBe(200);
    problem(await get(`/v1/audit/entries/${own}`, eve), 404, "ERR_NOT_FOUND");
    problem(await get(`/v1/audit/entries/0`, s.principalToken), 404, "ERR_NOT_FOUND"); // principal.created by the admin
    problem(await get(`/v1/audit/entries?start=0&end=2`, s.principalToken), 403, "ERR_FORBIDDEN");
    problem(await get(`/v1/audit/events`, null), 401, "ERR_UNAUTHENTICATED");
    problem(await get(`/v1/audit/entries/0`, null), 401, "ERR_UNAUTHENTICATED");
  });
});

describe("audit bad input: a clear 400, never a 500", () => {
  it.each([
    ["/v1/audit/proofs/inclusion?index=5&size=5", "ERR_INVALID_REQUEST", /index 5 is not below size 5/],
    ["/v1/audit/proofs/inclusion?index=0&size=100000", "ERR_INVALID_REQUEST", /larger than the tree/],
    ["/v1/audit/proofs/inclusion?index=0&size=0", "ERR_INVALID_REQUEST", /at least 1/],
    ["/v1/audit/proofs/inclusion?index=-1&size=3", "ERR_INVALID_REQUEST", /index must be an integer/],
    ["/v1/audit/proofs/inclusion?index=one&size=3", "ERR_INVALID_REQUEST", /index must be an integer/],
    ["/v1/audit/proofs/inclusion?index=1e3&size=3", "ERR_INVALID_REQUEST", /index must be an integer/],
    [
      "/v1/audit/proofs/inclusion?index=99999999999999999999&size=3",
      "ERR_INVALID_REQUEST",
      /integer between/,
    ],
    ["/v1/audit/proofs/inclusion?index=01&size=3", "ERR_INVALID_REQUEST", /integer/],
    ["/v1/audit/proofs/inclusion?size=3", "ERR_INVALID_REQUEST", /index is required/],
    ["/v1/audit/proofs/inclusion?index=0&index=1&size=3", "ERR_INVALID_REQUEST", /once/],
    ["/v1/audit/proofs/inclusion?index=0&size=3&x=1", "ERR_INVALID_REQUEST", /unknown parameter x/],
    ["/v1/audit/proofs/consistency?from=4&to=3", "ERR_INVALID_REQUEST", /from \(4\) is larger than to \(3\)/],
    ["/v1/audit/proofs/consistency?from=0&to=3", "ERR_INVALID_REQUEST", /from must be at least 1/],
    ["/v1/audit/proofs/consistency?from=1&to=100000", "ERR_INVALID_REQUEST", /larger than the tree/],
    ["/v1/audit/proofs/consistency?from=1&to=-3", "ERR_INVALID_REQUEST", /to must be an integer/],
    ["/v1/audit/leaves?start=3&end=3", "ERR_INVALID_REQUEST", /larger than start/],
    ["/v1/audit/leaves?start=0&end=20000", "ERR_INVALID_REQUEST", /at most 10000/],
    ["/v1/audit/leaves?start=0&end=9999", "ERR_INVALID_REQUEST", /larger than the tree/],
    ["/v1/audit/entries?start=0&end=10001", "ERR_INVALID_REQUEST", /at most 10000/],
    ["/v1/audit/entries/abc", "ERR_INVALID_REQUEST", /index must be an integer/],
    ["/v1/audit/entries/-1", "ERR_INVALID_REQUEST", /index must be an integer/],
    ["/v1/audit/entries/100000", "ERR_NOT_FOUND", /audit entry 100000 not found/],
    ["/v1/audit/events?limit=100000", "ERR_INVALID_REQUEST", /limit must be an integer 1..1000/],
    ["/v1/audit/events?limit=0", "ERR_INVALID_REQUEST", /limit/],
    ["/v1/audit/events?cursor=!!!", "ERR_INVALID_CURSOR", /cursor/],
    ["/v1/audit/events?cursor=WzEsMl0", "ERR_INVALID_CURSOR", /cursor/],
    ["/v1/audit/events?since=yesterday", "ERR_INVALID_REQUEST", /RFC 3339/],
    ["/v1/audit/events?since=2026-13-45T00:00:00Z", "ERR_INVALID_REQUEST", /RFC 3339/],
    [
      "/v1/audit/events?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
      "ERR_INVALID_REQUEST",
      /since is after until/,
    ],
    ["/v1/audit/events?decision=maybe", "ERR_INVALID_REQUEST", /decision/],
    ["/v1/audit/events?order=sideways", "ERR_INVALID_REQUEST", /order/],
    ["/v1/audit/events?after=-1", "ERR_INVALID_REQUEST", /after must be an integer/],
    [`/v1/audit/events?agent=${"a".repeat(300)}`, "ERR_INVALID_REQUEST", /agent must be 1 to 256/],
  ])("%s → %s", async (url, code, detail) => {
    problem(await get(url), code === "ERR_NOT_FOUND" ? 404 : 400, code, detail);
  });
});
