/**
 * Cascading revocation of one agent that has 100 sub-agents (a tree, fan-out 3, nested the
 * maximum 4 levels deep, each with a grant attenuated from its parent's) and 10,000 live tokens
 * spread over the 101 agents (sub-agents' tokens delegated from their parent's), next to 100
 * unrelated agents with 10,000 live tokens of their own that must stay untouched.
 *
 * Three timings per database, each on a freshly built copy of the same data (built through the
 * Store interface, outside the timed window):
 * - HTTP: `POST /v1/agents/{id}/revoke` against a Deputy child process, as a client sees it;
 * - in-process: `revokeTarget()` (the one transaction with its audit entry), no HTTP;
 * - baseline: the same agent and grant rows changed, and the tokens taken down read, by three
 *   hand-written SQL statements in one transaction, straight on the driver — the least work this
 *   design must do (token rows are never rewritten: a token's state derives from its grant).
 *
 * SQLite always; PostgreSQL too when DEPUTY_BENCH_DATABASE_URL is set (a fresh schema per copy).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { adminApi, BENCH_ADMIN_TOKEN, BENCH_RESOURCE, seededKey } from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { protocolModule, requireFromServer, serverModule } from "../lib/paths.js";
import { figure, median } from "../lib/report.js";

export const description =
  "revoking an agent with 100 sub-agents and 10,000 live tokens (HTTP, in-process, raw SQL), SQLite and PostgreSQL";

const FAN_OUT = 3;
const MAX_NESTING = 4;

export async function run({ quick, log }) {
  const shape = quick
    ? { subAgents: 10, tokens: 1_000, backgroundAgents: 10, backgroundTokensPerAgent: 100 }
    : { subAgents: 100, tokens: 10_000, backgroundAgents: 100, backgroundTokensPerAgent: 100 };
  const databases = [{ kind: "sqlite", reps: quick ? 1 : 5 }];
  const pgUrl = process.env.DEPUTY_BENCH_DATABASE_URL;
  if (pgUrl) databases.push({ kind: "postgres", url: pgUrl, reps: quick ? 1 : 3 });
  else log("    PostgreSQL skipped: set DEPUTY_BENCH_DATABASE_URL=postgres://… to include it");

  const figures = [];
  const details = { shape, databases: {} };
  for (const db of databases) {
    try {
      await measure(db);
    } catch (err) {
      // One database failing must not hide the other's figures.
      log(`    ${db.kind} FAILED: ${err?.message ?? err}`);
      figures.push(
        figure({
          id: `revocation.${db.kind}`,
          label: `revocation (${db.kind})`,
          error: String(err?.message ?? err),
        }),
      );
    }
  }
  return { figures, details };

  async function measure(db) {
    const times = { http: [], inProcess: [], raw: [] };
    for (let rep = 0; rep < db.reps; rep++) {
      // Rotate which timing goes first, so none always runs on the warmest machine.
      const order = ["http", "inProcess", "raw"];
      for (let k = 0; k < order.length; k++) {
        const which = order[(k + rep) % order.length];
        const copy = await freshCopy(db);
        try {
          const built = await buildDataset(copy, shape);
          const ms = await TIMERS[which](copy, built);
          times[which].push(ms);
          log(`    ${db.kind} rep ${rep + 1}/${db.reps} ${which}: ${ms.toFixed(1)} ms`);
        } finally {
          await copy.dispose();
        }
      }
    }
    const raw = {
      label: `hand-written SQL, same changes, one transaction (${db.kind})`,
      value: median(times.raw),
      unit: "ms",
    };
    const name = db.kind === "sqlite" ? "SQLite" : "PostgreSQL";
    // The 200 ms target is for the full shape; --quick revokes a smaller tree and has none.
    const target = quick ? {} : { target: { on: "value", op: "<=", value: 200, unit: "ms" } };
    const what = `${shape.subAgents} sub-agents, ${shape.tokens.toLocaleString("en-US")} tokens`;
    figures.push(
      figure({
        id: `revocation.${db.kind}.http`,
        label: `revoke agent with ${what} (${name}, HTTP round trip)`,
        value: median(times.http),
        unit: "ms",
        baseline: raw,
        ratio: median(times.http) / median(times.raw),
        ...target,
        note: `slowest of ${times.http.length}: ${Math.max(...times.http).toFixed(1)} ms`,
      }),
      figure({
        id: `revocation.${db.kind}.in-process`,
        label: `revoke agent with ${what} (${name}, in-process transaction)`,
        value: median(times.inProcess),
        unit: "ms",
        baseline: raw,
        ratio: median(times.inProcess) / median(times.raw),
        ...target,
      }),
    );
    details.databases[db.kind] = times;
  }
}

const TIMERS = {
  /** As a client sees it: the revoke call against a server that has served a few requests. */
  async http(copy, built) {
    const child = await startChild({
      kind: "deputy",
      dataDir: copy.dataDir,
      adminToken: BENCH_ADMIN_TOKEN,
      ...copy.serverOptions,
    });
    try {
      const api = adminApi(child.url);
      for (let i = 0; i < 10; i++) await api("GET", `/v1/agents/${built.root}`);
      const t0 = performance.now();
      const res = await api("POST", `/v1/agents/${built.root}/revoke`, { reason: "bench" });
      const ms = performance.now() - t0;
      expectCounts(res.revoked, built.expected);
      return ms;
    } finally {
      await child.stop();
    }
  },
  /** The cascade itself: `revokeTarget`, one transaction including its audit entry. */
  async inProcess(copy, built) {
    const { createDeputy } = await import(serverModule("serve.js"));
    const { revokeTarget } = await import(serverModule("identity/cascade.js"));
    const { app, deputy } = await createDeputy({
      dataDir: copy.dataDir,
      adminToken: BENCH_ADMIN_TOKEN,
      logLevel: "silent",
      env: {},
      ...copy.serverOptions,
    });
    try {
      for (let i = 0; i < 10; i++) await deputy.store.agents.get(built.root);
      const t0 = performance.now();
      const result = await revokeTarget(deputy, { kind: "admin" }, built.root, "bench");
      const ms = performance.now() - t0;
      expectCounts(result.revoked, built.expected);
      return ms;
    } finally {
      await app.close();
    }
  },
  /**
   * The floor: the same row changes (agents, grants) and the same read of the tokens taken down
   * (their ids go into the revocation event) as set-based statements on the bare driver. Token
   * rows are not rewritten: a token's state derives from its grant (TokenStore.get).
   */
  async raw(copy, built) {
    const at = Date.now();
    const tree =
      "WITH RECURSIVE d(id) AS (SELECT $root UNION SELECT a.id FROM agents a JOIN d ON a.parent_id = d.id)";
    const statements = [
      {
        read: true,
        sql: `${tree} SELECT t.id, t.expires_at FROM tokens t JOIN grants g ON g.id = t.grant_id
          WHERE g.agent_id IN (SELECT id FROM d) AND t.revoked_at IS NULL AND g.revoked_at IS NULL`,
      },
      {
        sql: `${tree} UPDATE agents SET status = 'revoked', revoked_at = $at, revoke_reason = 'bench'
         WHERE id IN (SELECT id FROM d) AND revoked_at IS NULL`,
      },
      {
        sql: `${tree} UPDATE grants SET status = 'revoked', revoked_at = $at
         WHERE agent_id IN (SELECT id FROM d) AND revoked_at IS NULL`,
      },
    ];
    return copy.rawTransaction(statements, { root: built.root, at }, built.expected);
  },
};

function expectCounts(revoked, expected) {
  if (
    revoked.agents !== expected.agents ||
    revoked.grants !== expected.grants ||
    revoked.tokens !== expected.tokens
  ) {
    throw new Error(`revocation changed ${JSON.stringify(revoked)}, expected ${JSON.stringify(expected)}`);
  }
}

/** A fresh, empty, migrated database (SQLite file or PostgreSQL schema) and how to reach it. */
export async function freshCopy(db) {
  const { openStore } = await import(serverModule("store/open.js"));
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-revocation-"));
  if (db.kind === "sqlite") {
    return {
      dataDir,
      serverOptions: {},
      open: () => openStore({ dataDir }),
      async rawTransaction(statements, params, expected) {
        const Database = requireFromServer("better-sqlite3");
        const conn = new Database(join(dataDir, "deputy.db"));
        try {
          // The server's own settings (store/sqlite.ts), so the floor is measured like-for-like.
          conn.pragma("journal_mode = WAL");
          conn.pragma("synchronous = NORMAL");
          conn.pragma("foreign_keys = ON");
          conn.pragma("cache_size = -32000");
          const prepared = statements.map((s) => ({
            read: s.read === true,
            stmt: conn.prepare(s.sql.replaceAll("$root", "@root").replaceAll("$at", "@at")),
          }));
          conn.prepare("SELECT id FROM agents WHERE id = ?").get(params.root);
          const t0 = performance.now();
          const changes = conn
            .transaction(() =>
              prepared.map((p) => (p.read ? p.stmt.all(params).length : p.stmt.run(params).changes)),
            )
            .immediate();
          const ms = performance.now() - t0;
          expectCounts({ tokens: changes[0], agents: changes[1], grants: changes[2] }, expected);
          return ms;
        } finally {
          conn.close();
        }
      },
      async dispose() {
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const schema = `bench_rev_${randomBytes(6).toString("hex")}`;
  const pg = requireFromServer("pg");
  return {
    dataDir,
    serverOptions: { databaseUrl: db.url, databaseSchema: schema },
    open: () => openStore({ url: db.url, schema }),
    async rawTransaction(statements, params, expected) {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query(`SET search_path TO "${schema}"`);
        await client.query("SELECT id FROM agents WHERE id = $1", [params.root]);
        const texts = statements.map((s) =>
          s.sql.replaceAll("$root", "$1::text").replaceAll("$at", "$2::bigint"),
        );
        const t0 = performance.now();
        await client.query("BEGIN");
        const changes = [];
        // The read takes only $1: PostgreSQL refuses a parameter that a statement never uses.
        for (const [i, text] of texts.entries()) {
          const args = statements[i]?.read ? [params.root] : [params.root, params.at];
          changes.push((await client.query(text, args)).rowCount);
        }
        await client.query("COMMIT");
        const ms = performance.now() - t0;
        expectCounts({ tokens: changes[0], agents: changes[1], grants: changes[2] }, expected);
        return ms;
      } finally {
        await client.end();
      }
    },
    async dispose() {
      rmSync(dataDir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Writes the data set through the Store (one transaction) and returns the root agent's id and
 * what revoking it must change.
 */
export async function buildDataset(copy, shape) {
  const { newId } = await import(protocolModule("ids.js"));
  const store = await copy.open();
  const now = Date.now();
  const grantExpiry = now + 86_400_000;
  const tokenExpiry = now + 3_600_000;
  const keys = Array.from({ length: 8 }, (_, i) => seededKey(`revocation-${i}`));
  let statusIdx = 0;
  try {
    return await store.transaction(async (tx) => {
      await tx.resources.create({
        id: newId("res"),
        audience: BENCH_RESOURCE,
        name: "Bench API",
        secretHash: randomBytes(32).toString("hex"),
        allowBearer: false,
        builtin: false,
        createdAt: now,
      });
      const principal = async () => {
        const id = newId("prn");
        await tx.principals.create({
          id,
          type: "service",
          name: "bench",
          email: null,
          status: "active",
          createdAt: now,
          disabledAt: null,
        });
        return id;
      };
      const agentWithGrant = async (principalId, parent, n) => {
        const id = newId("agt");
        const key = keys[n % keys.length];
        await tx.agents.create(
          {
            id,
            principalId,
            parentId: parent?.id ?? null,
            chain: parent ? [parent.id, ...parent.chain] : [],
            name: `agent-${n}`,
            description: null,
            status: "active",
            provenance: null,
            createdAt: now,
            revokedAt: null,
            revokeReason: null,
          },
          [
            {
              agentId: id,
              kid: key.kid,
              jwk: { ...key.publicJwk, kid: key.kid, alg: "EdDSA" },
              alg: "EdDSA",
              createdAt: now,
              removedAt: null,
            },
          ],
        );
        const grant = {
          id: newId("grt"),
          agentId: id,
          principalId,
          parentGrantId: parent?.grantId ?? null,
          scopes: ["read"],
          resources: [BENCH_RESOURCE],
          expiresAt: grantExpiry,
          maxDelegationDepth: parent ? parent.depth - 1 : MAX_NESTING,
          constraints: {},
          tokensIssued: 0,
          status: "active",
          createdAt: now,
          revokedAt: null,
        };
        await tx.grants.create(grant);
        return {
          id,
          principalId,
          chain: parent ? [parent.id, ...parent.chain] : [],
          grantId: grant.id,
          depth: grant.maxDelegationDepth,
          level: parent ? parent.level + 1 : 0,
          key,
          lastToken: null,
        };
      };
      const token = async (agent, parentTokenId) => {
        const id = newId("tok");
        await tx.tokens.create({
          id,
          agentId: agent.id,
          principalId: agent.principalId,
          grantId: agent.grantId,
          audience: BENCH_RESOURCE,
          scope: "read",
          jkt: agent.key.kid,
          statusIdx: statusIdx++,
          parentTokenId,
          issuedAt: now,
          expiresAt: tokenExpiry,
          kid: "bench-issuer-key",
          revokedAt: null,
        });
        agent.lastToken = id;
      };

      // Unrelated agents and their tokens, which the revocation must leave alone.
      const other = await principal();
      for (let i = 0; i < shape.backgroundAgents; i++) {
        const a = await agentWithGrant(other, null, i);
        for (let t = 0; t < shape.backgroundTokensPerAgent; t++) await token(a, null);
      }

      // The target: a root agent and its sub-agent tree, breadth first, fan-out 3, ≤ 4 levels.
      const owner = await principal();
      const root = await agentWithGrant(owner, null, 0);
      const tree = [root];
      for (let i = 0; tree.length < shape.subAgents + 1; i++) {
        const parent = tree[i];
        if (parent.level >= MAX_NESTING) throw new Error("tree too small for the requested sub-agents");
        for (let c = 0; c < FAN_OUT && tree.length < shape.subAgents + 1; c++) {
          tree.push(await agentWithGrant(owner, parent, tree.length));
        }
      }
      const parentOf = new Map(tree.map((a) => [a.id, a]));
      // Round-robin over the tree in breadth-first order, so a parent's token exists before its
      // sub-agents' tokens that are delegated from it.
      for (let t = 0; t < shape.tokens; t++) {
        const a = tree[t % tree.length];
        const parent = a.chain[0] ? parentOf.get(a.chain[0]) : null;
        await token(a, parent?.lastToken ?? null);
      }
      return {
        root: root.id,
        expected: { agents: tree.length, grants: tree.length, tokens: shape.tokens },
      };
    });
  } finally {
    await store.close();
  }
}
