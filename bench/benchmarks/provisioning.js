/**
 * Provisioning over HTTP on SQLite, each figure against a baseline from the same run:
 *
 * 1. Enrollment to first token, end to end on loopback: one agent at a time registers with an
 *    enrollment code (`POST /v1/agents/enroll`), signs its client assertion and DPoP proof, and
 *    gets its first token (`POST /oauth/token`). Baseline: the same two requests (same bodies)
 *    answered by a bare node:http server. Target: p50 ≤ 50 ms.
 * 2. Enrollments sustained: `POST /v1/agents/enroll` under load (32 connections, a fresh key per
 *    request), in rounds interleaved with the bare server. Target: ≥ 500 agents/s.
 * 3. Sweeping 100,000 expired temporary agents while tokens are issued: issuance p99 in rounds
 *    that run entirely inside the sweep, against its p99 in rounds before and after it. The
 *    agents (each with a key and a sandbox grant) are written straight into the database; the
 *    server's own sweeper (`provision/sweeper.js`) then runs in the server process. Target:
 *    p99 during ≤ 2 × p99 without.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import {
  adminApi,
  BENCH_ADMIN_TOKEN,
  BENCH_RESOURCE,
  fetchTokens,
  presign,
  seededKey,
  setupThroughApi,
  tokenRequest,
} from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { cycle, fire, queue } from "../lib/load.js";
import { requireFromServer } from "../lib/paths.js";
import { figure, median } from "../lib/report.js";
import { failures, interleave, medianRate, pairedRatio, summarize } from "../lib/rounds.js";

export const description =
  "provisioning (SQLite): enrollment → first token latency, enrollments/s, issuance p99 while 100,000 expired temporary agents are swept";

const B32 = "abcdefghijklmnopqrstuvwxyz234567";
const fakeId = (prefix) => `${prefix}_${Array.from(randomBytes(26), (b) => B32[b & 31]).join("")}`;

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function post(url, path, headers, body) {
  const res = await fetch(`${url}${path}`, { method: "POST", headers, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

export async function run({ quick, log }) {
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-provisioning-"));
  const sweepDoneFile = join(dataDir, "sweep-done.json");
  const children = [];
  try {
    const bare = await startChild({ kind: "bare" });
    children.push(bare);
    const deputy = await startChild({
      kind: "deputy",
      dataDir,
      adminToken: BENCH_ADMIN_TOKEN,
      sweepInterval: 86_400,
      sweepDoneFile,
    });
    children.push(deputy);
    const api = adminApi(deputy.url);
    log("    setting up agents for issuance and an enrollment through the admin API…");
    const { agents } = await setupThroughApi(deputy.url, { agents: quick ? 20 : 200 });
    await fetchTokens(
      deputy.url,
      presign(deputy.url, agents.length, (i) => agents[i]),
    );
    const owner = await api("POST", "/v1/principals", { type: "service", name: "launcher" });
    const enrollment = await api("POST", "/v1/enrollments", {
      principal: owner.id,
      scopes: ["read"],
      resources: [BENCH_RESOURCE],
      max_agents: 1_000_000,
      expires_in: 86_400,
    });
    let keyN = 0;
    const enrollBody = () => {
      const key = seededKey(`enroll-${keyN++}`);
      return {
        key,
        body: JSON.stringify({
          enrollment_code: enrollment.enrollment_code,
          name: `enrolled-${keyN}`,
          jwks: { keys: [key.publicJwk] },
        }),
      };
    };
    const json = { "content-type": "application/json" };

    // 1. Enrollment to first token, one agent at a time.
    const n = quick ? 40 : 300;
    const e2e = [];
    const bareE2e = [];
    for (let i = 0; i < n; i++) {
      const { key, body } = enrollBody();
      const t0 = performance.now();
      const { agent } = await post(deputy.url, "/v1/agents/enroll", json, body);
      const req = tokenRequest({ issuer: deputy.url, agentId: agent.id, key });
      const tok = await post(deputy.url, "/oauth/token", req.headers, req.body);
      e2e.push(performance.now() - t0);
      if (typeof tok.access_token !== "string") throw new Error("no access token");
      const b0 = performance.now();
      await post(bare.url, "/v1/agents/enroll", json, body);
      const breq = tokenRequest({ issuer: deputy.url, agentId: agent.id, key });
      await post(bare.url, "/oauth/token", breq.headers, breq.body);
      bareE2e.push(performance.now() - b0);
    }
    const p50 = median(e2e);
    const bareP50 = median(bareE2e);
    log(
      `    enrollment → first token: p50 ${p50.toFixed(2)} ms, p99 ${percentile(e2e, 99).toFixed(2)} ms ` +
        `(bare ${bareP50.toFixed(2)} ms) over ${n} agents`,
    );

    // 2. Enrollments sustained, interleaved with the bare server.
    const cfg = quick
      ? { rounds: 2, seconds: 1, warmupSeconds: 0.5, warmupCount: 300 }
      : { rounds: 3, seconds: 4, warmupSeconds: 1, warmupCount: 1000 };
    const build = (count) => {
      const items = [];
      for (let i = 0; i < count; i++) items.push({ headers: json, body: enrollBody().body });
      return items;
    };
    const sample = { headers: json, body: enrollBody().body };
    const runs = await interleave({
      ...cfg,
      log,
      subjects: [
        {
          name: "bare",
          url: bare.url,
          child: bare,
          path: "/v1/agents/enroll",
          prepare: () => cycle([sample]),
        },
        {
          name: "deputy",
          url: deputy.url,
          child: deputy,
          path: "/v1/agents/enroll",
          prepare: (count) => queue(build(count)),
        },
      ],
    });
    const bad = failures(runs.deputy);

    // 3. Issuance p99 while 100,000 expired temporary agents are swept.
    const temporaries = quick ? 30_000 : 100_000;
    log(`    writing ${temporaries.toLocaleString("en")} expired temporary agents into the database…`);
    const sandbox = await api("POST", "/v1/principals", { type: "service", name: "sandbox (bench)" });
    populateTemporaries(join(dataDir, "deputy.db"), sandbox.id, temporaries);
    let rng = 7;
    const pick = () => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return agents[rng % agents.length];
    };
    const connections = 8;
    const roundSeconds = 1;
    const issuanceRound = async () => {
      const count = 4000 * roundSeconds;
      return fire({
        url: deputy.url,
        path: "/oauth/token",
        seconds: roundSeconds,
        maxRequests: count,
        next: queue(presign(deputy.url, count + 3 * connections, pick)),
        connections,
      });
    };
    const without = [];
    for (let i = 0; i < 3; i++) without.push(await issuanceRound());
    const during = [];
    process.kill(deputy.pid, "SIGUSR2");
    for (;;) {
      const r = await issuanceRound();
      if (existsSync(sweepDoneFile)) {
        log(`    (a round that outlasted the sweep is left out: p99 ${r.latency_ms.p99} ms)`);
        break;
      }
      during.push(r);
    }
    while (!existsSync(sweepDoneFile)) await sleep(50);
    await sleep(100);
    const sweep = JSON.parse(readFileSync(sweepDoneFile, "utf8"));
    if (sweep.error) throw new Error(`sweep failed: ${sweep.error}`);
    log(
      `    sweep: ${sweep.agents.toLocaleString("en")} agents in ${(sweep.ms / 1000).toFixed(1)} s ` +
        `(${Math.round(sweep.agents / (sweep.ms / 1000))} agents/s); ${during.length} issuance rounds inside it`,
    );
    for (let i = 0; i < 2; i++) without.push(await issuanceRound());
    const p99Without = median(without.map((r) => r.latency_ms.p99));
    // Like for like: the median round's p99 in each condition (this shared machine moves a
    // single round's p99 by several × on its own; the worst round is kept in the note).
    const p99During = median(during.map((r) => r.latency_ms.p99));
    const worstDuring = Math.max(...during.map((r) => r.latency_ms.p99));
    const worstWithout = Math.max(...without.map((r) => r.latency_ms.p99));
    for (const [label, rs] of [
      ["without sweep", without],
      ["during sweep", during],
    ]) {
      log(
        `    issuance ${label}: ${rs.map((r) => `${Math.round(r.rate)} req/s p99 ${r.latency_ms.p99} ms`).join("; ")}`,
      );
    }
    const sweepBad = failures(during);

    const figures = [
      figure({
        id: "provisioning.enroll-to-token",
        label: "enrollment → first token, end to end on loopback (p50, one agent at a time)",
        value: p50,
        unit: "ms",
        baseline: { label: "the same two requests to bare node:http", value: bareP50, unit: "ms" },
        ratio: p50 / bareP50,
        target: { on: "value", op: "<=", value: 50, unit: "ms" },
      }),
      figure({
        id: "provisioning.enrollments",
        label: "agents enrolled per second, sustained (POST /v1/agents/enroll, SQLite, audit)",
        value: medianRate(runs.deputy),
        unit: "agents/s",
        baseline: { label: "bare node:http", value: medianRate(runs.bare), unit: "req/s" },
        ratio: pairedRatio(runs.deputy, runs.bare),
        target: { on: "value", op: ">=", value: 500, unit: "agents/s" },
        ...(bad.non2xx || bad.errors
          ? { note: `${bad.non2xx} refused and ${bad.errors} failed requests (not counted)` }
          : {}),
      }),
      during.length === 0
        ? figure({
            id: "provisioning.sweep-p99",
            label: `issuance p99 while ${temporaries.toLocaleString("en")} expired temporary agents are swept`,
            error: `the sweep (${Math.round(sweep.ms)} ms) ended before one issuance round (${roundSeconds} s) could run inside it`,
          })
        : figure({
            id: "provisioning.sweep-p99",
            label: `issuance p99 while ${temporaries.toLocaleString("en")} expired temporary agents are swept (median round)`,
            value: p99During,
            unit: "ms",
            baseline: { label: "issuance p99 without a sweep (median round)", value: p99Without, unit: "ms" },
            ratio: p99During / p99Without,
            target: { on: "ratio", op: "<=", value: 2 },
            note:
              `worst round p99 ${worstDuring} ms during vs ${worstWithout} ms without; ` +
              `issuance ${Math.round(medianRate(during))} req/s during vs ${Math.round(medianRate(without))} req/s without; ` +
              `sweep of ${sweep.agents.toLocaleString("en")} agents took ${(sweep.ms / 1000).toFixed(1)} s` +
              (sweepBad.non2xx || sweepBad.errors
                ? `; ${sweepBad.non2xx} refused and ${sweepBad.errors} failed requests during the sweep`
                : ""),
          }),
    ];
    return {
      figures,
      details: {
        enroll_to_token_ms: {
          agents: n,
          p50,
          p99: percentile(e2e, 99),
          bare_p50: bareP50,
          bare_p99: percentile(bareE2e, 99),
        },
        enrollments: {
          ...cfg,
          rounds_detail: { bare: summarize(runs.bare), deputy: summarize(runs.deputy) },
        },
        sweep: {
          temporaries,
          swept: sweep.agents,
          ms: Math.round(sweep.ms),
          issuance_connections: connections,
          round_seconds: roundSeconds,
          without: summarize(without),
          during: summarize(during),
        },
      },
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Writes `count` unclaimed temporary agents whose claim window closed a minute ago, each with a
 * key and a sandbox grant, straight into the server's SQLite database (one transaction).
 */
function populateTemporaries(path, principalId, count) {
  const Database = requireFromServer("better-sqlite3");
  const db = new Database(path);
  db.pragma("busy_timeout = 10000");
  const now = Date.now();
  const ceiling = JSON.stringify({ scopes: ["read"], resources: [BENCH_RESOURCE] });
  const agent = db.prepare(
    `INSERT INTO agents (id, principal_id, parent_id, chain, name, description, status, provenance, created_at,
       revoked_at, revoke_reason, enrollment_id, ceiling, provenance_verified, temporary_until, claim_code_hash, claimed_at)
     VALUES (?, ?, NULL, '[]', 'temporary', NULL, 'active', NULL, ?, NULL, NULL, NULL, ?, NULL, ?, ?, NULL)`,
  );
  const key = db.prepare(
    "INSERT INTO agent_keys (agent_id, kid, jwk, alg, created_at, removed_at) VALUES (?, ?, ?, 'EdDSA', ?, NULL)",
  );
  const grant = db.prepare(
    `INSERT INTO grants (id, agent_id, principal_id, parent_grant_id, scopes, resources, expires_at,
       max_delegation_depth, constraints, tokens_issued, status, created_at, revoked_at)
     VALUES (?, ?, ?, NULL, '["read"]', ?, ?, 0, '{}', 0, 'active', ?, NULL)`,
  );
  const resources = JSON.stringify([BENCH_RESOURCE]);
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = fakeId("agt");
      const x = randomBytes(32).toString("base64url");
      const created = now - 3_700_000;
      agent.run(id, principalId, created, ceiling, now - 60_000, randomBytes(32).toString("hex"));
      key.run(
        id,
        randomBytes(32).toString("base64url"),
        JSON.stringify({ kty: "OKP", crv: "Ed25519", x }),
        created,
      );
      grant.run(fakeId("grt"), id, principalId, resources, now - 60_000, created);
    }
  })();
  db.close();
}
