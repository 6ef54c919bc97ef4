/**
 * Master-key rotation end to end, on whichever store the run uses (SQLite, or PostgreSQL with
 * DEPUTY_TEST_DATABASE_URL): state sealed under the old key, restarts with the new key in front,
 * the proxy (vault KEK → data key → secret), token signing (issuer key) and checkpoint signing
 * (audit log key) working before and after the re-seal, the old key dropped afterwards, and the
 * clear refusal when a key still referenced is dropped too early.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { openNote } from "@deputy/protocol";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEK_CONTEXT } from "../broker/vault.js";
import { FakeClock } from "../clock.js";
import type { Deputy } from "../context.js";
import { MasterKeyRing, masterKeyId } from "../crypto/master-key-ring.js";
import { sealWithKey } from "../crypto/secrets.js";
import { createDeputy } from "../serve.js";
import { dpopProof, type TestKey, testKey } from "../test-support/keys.js";
import { getToken, nowS } from "../test-support/oauth.js";
import {
  expectOk,
  injectApi,
  T0,
  TEST_ADMIN_TOKEN,
  TEST_ISSUER,
  type TestDeputy,
} from "../test-support/server.js";
import { createTestStore, type TestStore } from "../test-support/store.js";
import { startUpstream, type Upstream } from "../test-support/upstream.js";

const OLD = Buffer.alloc(32, 11);
const NEW = Buffer.alloc(32, 12);
const OLD_ID = masterKeyId(OLD);
const NEW_ID = masterKeyId(NEW);
const SECRET = "ghp_MasterRotationSecret_0123456789";
const AUD = "urn:deputy:connection:github";

let ts: TestStore;
let dataDir: string;
let up: Upstream;
const clock = new FakeClock(T0);
const logLines: string[] = [];
let agent: string;
let key: TestKey;

interface Instance extends TestDeputy {
  deputy: Deputy;
}

/** A Deputy on the shared store with `ring` as its master keys (as DEPUTY_MASTER_KEY would give). */
async function boot(ring: Buffer[], overrides: Record<string, unknown> = {}): Promise<Instance> {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  const { app, deputy } = await createDeputy({
    dataDir,
    issuer: TEST_ISSUER,
    adminToken: TEST_ADMIN_TOKEN,
    masterKey: ring.map((k) => k.toString("base64")).join(","),
    store: ts.store,
    clock,
    logger: pino({ level: "debug" }, sink),
    env: {},
    brokerAllowHttpLoopback: true,
    brokerRateLimit: 0,
    masterKeyRewrapOnStart: false,
    ...overrides,
  });
  await app.ready();
  return instance(app, deputy);
}

function instance(app: FastifyInstance, deputy: Deputy): Instance {
  return {
    app,
    deputy,
    clock,
    api: injectApi(app),
    close: () => app.close(),
  };
}

/** Mints a token (issuer key signs) and calls the upstream through the proxy (vault opens). */
async function proxyWorks(t: Instance): Promise<void> {
  const token = await getToken(t, agent, key, { scope: "issues:read", resource: AUD });
  const path = "/proxy/github/repos/acme/app/issues";
  up.requests.length = 0;
  // The gateway sits in front of Fastify's router, so it is reached over a real socket.
  if (!t.app.server.listening) await t.app.listen({ port: 0, host: "127.0.0.1" });
  const address = t.app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: {
      authorization: `DPoP ${token}`,
      dpop: dpopProof(key, { htm: "GET", htu: `${TEST_ISSUER}${path}`, iat: nowS(t), accessToken: token }),
    },
  });
  expect(res.status, await res.text()).toBe(200);
  expect(up.requests[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
}

/** Appends an entry, integrates it and checks the new checkpoint against the published log key. */
async function checkpointWorks(t: Instance): Promise<void> {
  await expectOk(t.api("POST", "/v1/principals", { type: "service", name: `cp-${Math.random()}` }));
  // At least this entry is in the tree (a proxy call's entry may land a moment after its response).
  const appended = await t.deputy.store.audit.size();
  await t.deputy.ledger.integrate();
  const meta = (await t.app.inject({ url: "/.well-known/oauth-authorization-server" })).json();
  const res = await t.app.inject({ url: "/v1/audit/checkpoint" });
  expect(res.statusCode).toBe(200);
  const { text } = await openNote(res.body, [meta.audit_log_public_key]);
  const size = Number(text.split("\n")[1]);
  expect(size).toBeGreaterThanOrEqual(appended);
}

async function connection(t: Instance, name: string, secret: string): Promise<void> {
  const res = await t.api("POST", "/v1/connections", {
    name,
    upstream: up.url,
    auth: { type: "bearer", secret },
    rules: [{ scope: "issues:read", methods: ["GET"], paths: ["/repos/*/*/issues"] }],
  });
  expect(res.statusCode, res.body).toBe(201);
}

let publicLogKey: string;
let firstKid: string;

beforeAll(async () => {
  up = await startUpstream();
  ts = await createTestStore();
  dataDir = await mkdtemp(join(tmpdir(), "deputy-mk-"));
  // First life: a ring of one (what every earlier version had).
  const t = await boot([OLD]);
  const principal = (await expectOk(t.api("POST", "/v1/principals", { type: "human", name: "Ada" }))).id;
  await connection(t, "github", SECRET);
  key = testKey(1);
  agent = (
    await expectOk(
      t.api("POST", "/v1/agents", { principal, name: "triage", jwks: { keys: [key.publicJwk] } }),
    )
  ).id;
  await expectOk(
    t.api("POST", "/v1/grants", {
      agent,
      scopes: ["issues:read"],
      resources: [AUD],
      expires_at: new Date(T0 + 86_400_000).toISOString(),
    }),
  );
  await proxyWorks(t);
  await checkpointWorks(t);
  publicLogKey = (await t.app.inject({ url: "/.well-known/oauth-authorization-server" })).json()
    .audit_log_public_key;
  firstKid = t.deputy.keys.activeKid;
  // A retired issuer key: its private half stays stored and must be re-sealed too.
  await expectOk(t.api("POST", "/v1/keys/rotate", {}));
  // A box from before key ids: the vault KEK, rewritten in the id-less v1 format.
  const kek = (await ts.store.broker.vaultKeys())[0]!;
  const plain = MasterKeyRing.from([OLD]).open(kek.sealed, KEK_CONTEXT);
  const legacy = sealWithKey(OLD, plain, KEK_CONTEXT);
  expect(await ts.store.masterSealed.replace("vault_key", kek.id, kek.sealed, legacy)).toBe(true);
  await t.close();
});

afterAll(async () => {
  await ts?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  await up?.close();
});

describe("master-key rotation", () => {
  it("a ring without the old key refuses to start, naming the key and what to do", async () => {
    await expect(boot([NEW])).rejects.toThrowError(
      new RegExp(`the master key ${OLD_ID} that sealed this box is not in the master-key ring: put it back`),
    );
  });

  it("with the new key in front, everything works before and after the re-seal; then the old key can go", async () => {
    const t = await boot([NEW, OLD]);
    try {
      const before = (await t.api("GET", "/v1/master-key")).json();
      // 1 vault key (id-less v1) + 2 issuer keys + the log key, all still under the old key.
      expect(before).toEqual({
        active_key_id: NEW_ID,
        ring: [NEW_ID, OLD_ID],
        total: 4,
        references: { [OLD_ID]: 4 },
        remaining: 4,
        unreadable: [],
      });
      await proxyWorks(t);
      await checkpointWorks(t);

      // Re-seal while connections are being created: nothing is lost, nothing is left behind.
      const created = Array.from({ length: 8 }, (_, i) => connection(t, `c${i}`, `secret-${i}`));
      const [rewrap] = await Promise.all([t.api("POST", "/v1/master-key/rewrap"), ...created]);
      expect(rewrap.statusCode).toBe(200);
      expect(rewrap.json()).toEqual({
        rewrapped: 4,
        active_key_id: NEW_ID,
        ring: [NEW_ID, OLD_ID],
        total: 4,
        references: { [NEW_ID]: 4 },
        remaining: 0,
        unreadable: [],
      });
      for (let i = 0; i < 8; i++) {
        const c = (await ts.store.broker.getConnectionByName(`c${i}`))!;
        expect((await t.deputy.vault.open(c.id, c.secret)).toString()).toBe(`secret-${i}`);
      }
      for (const box of await ts.store.masterSealed.list())
        expect(box.sealed.startsWith(`v2.${NEW_ID}.`)).toBe(true);
      const again = await t.api("POST", "/v1/master-key/rewrap");
      expect(again.json()).toMatchObject({ rewrapped: 0, remaining: 0 });

      const entries = (await ts.store.audit.entries(0, await ts.store.audit.size())).map((e) =>
        JSON.parse(e),
      );
      expect(entries.filter((e) => e.action === "master_key.rewrapped")[0]).toMatchObject({
        actor: { kind: "admin" },
        target: NEW_ID,
        details: { rewrapped: 4, remaining: 0 },
      });
      await proxyWorks(t);
      await checkpointWorks(t);
    } finally {
      await t.close();
    }

    // The old key dropped: the server starts and works, with the same log key and old checkpoints.
    const after = await boot([NEW]);
    try {
      expect(
        (await after.app.inject({ url: "/.well-known/oauth-authorization-server" })).json(),
      ).toMatchObject({
        audit_log_public_key: publicLogKey,
      });
      expect(
        (await after.app.inject({ url: "/.well-known/jwks.json" })).json().keys.map((k: any) => k.kid),
      ).toContain(firstKid);
      await proxyWorks(after);
      const c7 = (await ts.store.broker.getConnectionByName("c7"))!;
      expect((await after.deputy.vault.open(c7.id, c7.secret)).toString()).toBe("secret-7");
      await checkpointWorks(after);
      expect((await after.api("GET", "/v1/master-key")).json()).toMatchObject({
        ring: [NEW_ID],
        references: { [NEW_ID]: 4 },
        remaining: 0,
      });
      // A vault key rotation under the new master key still works.
      expect((await after.api("POST", "/v1/vault/rotate")).statusCode).toBe(200);
      after.deputy.broker.connections.invalidate("github");
      await proxyWorks(after);
    } finally {
      await after.close();
    }

    // And going back to the dropped key alone is refused, naming the key that is needed.
    await expect(boot([OLD])).rejects.toThrowError(new RegExp(`master key ${NEW_ID} that sealed this box`));

    // A vault key still sealed by a dropped key stops the start too (not the first proxy call).
    const kek = (await ts.store.broker.vaultKeys())[0]!;
    const plain = MasterKeyRing.from([NEW]).open(kek.sealed, KEK_CONTEXT);
    const underOld = MasterKeyRing.from([OLD]).seal(plain, KEK_CONTEXT);
    expect(await ts.store.masterSealed.replace("vault_key", kek.id, kek.sealed, underOld)).toBe(true);
    await expect(boot([NEW])).rejects.toThrowError(new RegExp(`master key ${OLD_ID} that sealed this box`));
    expect(await ts.store.masterSealed.replace("vault_key", kek.id, underOld, kek.sealed)).toBe(true);
  });

  it("the server re-seals by itself at start, and neither the secret nor a master key reaches the logs or the audit log", async () => {
    const THIRD = Buffer.alloc(32, 13);
    const t = await boot([THIRD, NEW], { masterKeyRewrapOnStart: true });
    await t.close(); // waits for the background re-seal
    const t2 = await boot([THIRD]);
    try {
      const status = (await t2.api("GET", "/v1/master-key")).json();
      expect(status).toMatchObject({ references: { [masterKeyId(THIRD)]: status.total }, remaining: 0 });
      expect(status.total).toBeGreaterThanOrEqual(4);
      await proxyWorks(t2);
      await checkpointWorks(t2);
    } finally {
      await t2.close();
    }
    const logs = logLines.join("");
    expect(logs).toContain("master-key rewrap finished");
    const entries = (await ts.store.audit.entries(0, await ts.store.audit.size())).join("\n");
    expect(entries).toContain('"kind":"system"');
    for (const secret of [SECRET, "secret-3", ...[OLD, NEW, THIRD].map((k) => k.toString("base64"))]) {
      expect(logs).not.toContain(secret);
      expect(entries).not.toContain(secret);
    }
  });

  it("a re-seal racing a vault rotation, an issuer key rotation and new connections loses nothing", async () => {
    const THIRD = Buffer.alloc(32, 13);
    const FOURTH = Buffer.alloc(32, 14);
    const t = await boot([FOURTH, THIRD]);
    try {
      const results = await Promise.all([
        t.api("POST", "/v1/master-key/rewrap"),
        t.api("POST", "/v1/vault/rotate"),
        t.api("POST", "/v1/keys/rotate", {}),
        t.api("POST", "/v1/master-key/rewrap"),
        ...Array.from({ length: 5 }, (_, i) => connection(t, `race${i}`, `race-secret-${i}`)),
      ]);
      for (const r of results.slice(0, 4)) {
        const res = r as { statusCode: number; body: string };
        expect(
          res.statusCode,
          `${res.body} ${logLines.filter((l) => l.includes('"level":50')).join("")}`,
        ).toBe(200);
      }
      // Whatever the race left under the old key, one more pass finishes.
      const final = (await t.api("POST", "/v1/master-key/rewrap")).json();
      expect(final).toMatchObject({
        remaining: 0,
        unreadable: [],
        references: { [masterKeyId(FOURTH)]: final.total },
      });
      for (let i = 0; i < 5; i++) {
        const c = (await ts.store.broker.getConnectionByName(`race${i}`))!;
        expect((await t.deputy.vault.open(c.id, c.secret)).toString()).toBe(`race-secret-${i}`);
      }
      t.deputy.broker.connections.invalidate("github");
      await proxyWorks(t);
    } finally {
      await t.close();
    }
    const only = await boot([FOURTH]);
    try {
      await proxyWorks(only);
      await checkpointWorks(only);
    } finally {
      await only.close();
    }
  });

  it("replicas: a standby key lets a not-yet-promoted replica open what a promoted one seals", async () => {
    const FOURTH = Buffer.alloc(32, 14);
    const FIFTH = Buffer.alloc(32, 15);
    // Step 1 done everywhere (FIFTH is a standby); step 2 half-way: B is promoted, A not yet.
    const a = await boot([FOURTH, FIFTH]);
    const b = await boot([FIFTH, FOURTH]);
    try {
      // B seals with FIFTH: a new issuer key and a new vault KEK.
      expect((await b.api("POST", "/v1/keys/rotate", {})).statusCode).toBe(200);
      expect((await b.api("POST", "/v1/vault/rotate")).statusCode).toBe(200);
      // A picks both up: it signs with B's new key and seals a new secret under B's new KEK.
      await a.deputy.keys.reload();
      expect(a.deputy.keys.activeKid).toBe(b.deputy.keys.activeKid);
      await connection(a, "replica-made", "replica-secret");
      const c = (await ts.store.broker.getConnectionByName("replica-made"))!;
      expect((await b.deputy.vault.open(c.id, c.secret)).toString()).toBe("replica-secret");
      a.deputy.broker.connections.invalidate("github");
      await proxyWorks(a);
      await proxyWorks(b);
      // A replica that skipped step 1 could not: the signing key B made names a key it lacks.
      await expect(boot([FOURTH])).rejects.toThrowError(
        new RegExp(`the master key ${masterKeyId(FIFTH)} that sealed this box is not in the master-key ring`),
      );
      // Step 3: one re-seal after the roll.
      expect((await b.api("POST", "/v1/master-key/rewrap")).json()).toMatchObject({ remaining: 0 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a retired issuer key sealed by a dropped key is reported (not re-sealed) and does not stop the start", async () => {
    const FIFTH = Buffer.alloc(32, 15);
    const LOST = Buffer.alloc(32, 99);
    const active = (await ts.store.issuerKeys.active())!.kid;
    const retired = (await ts.store.masterSealed.list()).find(
      (b) => b.kind === "issuer_key" && b.id !== active,
    )!;
    const lost = MasterKeyRing.from([LOST]).seal(Buffer.from("not a real key"), "deputy:issuer-key:v1");
    expect(await ts.store.masterSealed.replace("issuer_key", retired.id, retired.sealed, lost)).toBe(true);
    logLines.length = 0;
    const t = await boot([FIFTH], { masterKeyRewrapOnStart: true });
    try {
      const expected = [{ kind: "issuer_key", id: retired.id, key_id: masterKeyId(LOST) }];
      const status = (await t.api("GET", "/v1/master-key")).json();
      expect(status.unreadable).toEqual(expected);
      expect(status.references[masterKeyId(LOST)]).toBe(1);
      const rewrap = (await t.api("POST", "/v1/master-key/rewrap")).json();
      expect(rewrap).toMatchObject({ rewrapped: 0, remaining: 1, unreadable: expected });
      await proxyWorks(t);
    } finally {
      await t.close();
    }
    expect(logLines.join("")).toContain("sealed by a master key that is not in the ring");
    expect(await ts.store.masterSealed.replace("issuer_key", retired.id, lost, retired.sealed)).toBe(true);
  });
});
