/**
 * Revocation propagation (issue #4): from the revoke call returning to every connected verifier
 * refusing the token. 1,000 token revocations, one after another, through `POST /v1/revocations`,
 * with 50 verifiers subscribed to `GET /v1/revocations/events`.
 *
 * Verifiers: the SDK's `@deputy/sdk/verifier` (`Verifier.verifyToken` after each event, so a
 * "refused" is a real refusal: `ERR_TOKEN_REVOKED`), all in this process, each with its own event
 * stream. A verifier that refuses before the revoke call has even returned counts 0 ms.
 *
 * Scenarios:
 * - one server (SQLite);
 * - two replicas on one PostgreSQL (with DEPUTY_BENCH_DATABASE_URL): revoked through A, the
 *   verifiers subscribe to B, so every event crosses processes by LISTEN/NOTIFY.
 *
 * Baseline, same run: a bare node:http SSE broadcaster (server-child `sse`) that writes the event to
 * 50 minimal SSE clients before answering the POST; the floor of HTTP + SSE fan-out here. The
 * ratio compares the round trip (revoke call start → last of the 50 refusals) with it.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  adminApi,
  BENCH_ADMIN_TOKEN,
  BENCH_RESOURCE,
  fetchTokens,
  presign,
  setupThroughApi,
} from "../lib/agents.js";
import { freePort, startChild } from "../lib/children.js";
import { requireFromServer } from "../lib/paths.js";
import { figure } from "../lib/report.js";

/**
 * The tokens are DPoP-bound; what is measured is a revoked token being refused, so the proof is
 * explicitly left to "elsewhere" (without it, `verifyToken` refuses a bound token outright).
 */
const TOKEN_ONLY = { dpop: "checked-elsewhere" };

export const description =
  "revocation propagation: revoke call returning → 50 verifiers refusing, 1,000 revocations (one server; two PostgreSQL replicas)";

const VERIFIERS = 50;
/** A revocation that has not reached every verifier by then counts as this (and is reported). */
const WAIT_MS = 5_000;

function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function run({ quick, log }) {
  const revocations = quick ? 100 : 1_000;
  const figures = [];
  const details = { revocations, verifiers: VERIFIERS, scenarios: {} };

  const baseline = await measureBaseline(revocations, log);
  details.scenarios.baseline = baseline.summary;
  log(
    `    baseline (bare SSE broadcaster): round trip p50 ${baseline.summary.roundtrip_p50.toFixed(2)} ms, after return p50 ${baseline.summary.after_return_p50.toFixed(2)} ms p99 ${baseline.summary.after_return_p99.toFixed(2)} ms`,
  );

  const scenarios = [{ id: "single", label: "one server, SQLite", replicas: 1 }];
  const pgUrl = process.env.DEPUTY_BENCH_DATABASE_URL;
  if (pgUrl) scenarios.push({ id: "replicas", label: "two replicas, PostgreSQL", replicas: 2, pgUrl });
  else log("    two-replica scenario skipped: set DEPUTY_BENCH_DATABASE_URL=postgres://… to include it");

  for (const sc of scenarios) {
    try {
      const r = await measureDeputy(sc, revocations, log);
      details.scenarios[sc.id] = r.summary;
      const base = {
        label: "bare SSE broadcaster, same clients' count",
        value: baseline.summary.roundtrip_p50,
        unit: "ms",
      };
      const targets = quick
        ? [{}, {}]
        : [
            { target: { on: "value", op: "<=", value: 50, unit: "ms" } },
            { target: { on: "value", op: "<=", value: 250, unit: "ms" } },
          ];
      figures.push(
        figure({
          id: `revocation-propagation.${sc.id}.p50`,
          label: `revoke returned → ${VERIFIERS} verifiers refuse, p50 (${sc.label})`,
          value: r.summary.after_return_p50,
          unit: "ms",
          baseline: {
            ...base,
            label: "bare SSE broadcaster, p50 after return",
            value: baseline.summary.after_return_p50,
          },
          ...targets[0],
          note: `${r.summary.samples} refusals; ${r.summary.missed} missed the ${WAIT_MS} ms wait; verifiers: ${r.summary.verifiers}`,
        }),
        figure({
          id: `revocation-propagation.${sc.id}.p99`,
          label: `revoke returned → ${VERIFIERS} verifiers refuse, p99 (${sc.label})`,
          value: r.summary.after_return_p99,
          unit: "ms",
          baseline: {
            ...base,
            label: "bare SSE broadcaster, p99 after return",
            value: baseline.summary.after_return_p99,
          },
          ...targets[1],
          note: `max ${r.summary.after_return_max.toFixed(1)} ms`,
        }),
        figure({
          id: `revocation-propagation.${sc.id}.roundtrip`,
          label: `revoke call start → last of ${VERIFIERS} verifiers refuses, p50 (${sc.label})`,
          value: r.summary.roundtrip_p50,
          unit: "ms",
          baseline: base,
          ratio: r.summary.roundtrip_p50 / baseline.summary.roundtrip_p50,
          note: `p99 ${r.summary.roundtrip_p99.toFixed(1)} ms (baseline p99 ${baseline.summary.roundtrip_p99.toFixed(1)} ms)`,
        }),
      );
    } catch (err) {
      log(`    ${sc.id} FAILED: ${err?.stack ?? err}`);
      figures.push(
        figure({
          id: `revocation-propagation.${sc.id}`,
          label: `revocation propagation (${sc.label})`,
          error: String(err?.message ?? err),
        }),
      );
    }
  }
  return { figures, details };
}

/** Samples of one run: per revocation, per verifier, ms from the call returning (≥ 0), and round trips. */
function summarize(afterReturn, roundtrips, missed, verifiers) {
  return {
    verifiers,
    samples: afterReturn.length,
    missed,
    after_return_p50: percentile(afterReturn, 50),
    after_return_p99: percentile(afterReturn, 99),
    after_return_max: Math.max(...afterReturn),
    roundtrip_p50: percentile(roundtrips, 50),
    roundtrip_p99: percentile(roundtrips, 99),
  };
}

/**
 * Drives `count` revocations one after another: `revoke(i)` makes the call; every verifier calls
 * `refused(i)` once it refuses token i. Answers the samples.
 */
async function drive(count, revoke, waiters) {
  const afterReturn = [];
  const roundtrips = [];
  let missed = 0;
  for (let i = 0; i < count; i++) {
    const seen = [];
    let resolveAll;
    const all = new Promise((r) => {
      resolveAll = r;
    });
    waiters.set(i, (at) => {
      seen.push(at);
      if (seen.length === VERIFIERS) resolveAll();
    });
    const t0 = performance.now();
    await revoke(i);
    const t1 = performance.now();
    const timer = setTimeout(resolveAll, WAIT_MS);
    await all;
    clearTimeout(timer);
    waiters.delete(i);
    for (const at of seen) afterReturn.push(Math.max(0, at - t1));
    for (let k = seen.length; k < VERIFIERS; k++) afterReturn.push(WAIT_MS);
    missed += VERIFIERS - seen.length;
    roundtrips.push(seen.length === VERIFIERS ? Math.max(...seen) - t0 : WAIT_MS);
  }
  return { afterReturn, roundtrips, missed };
}

/** A minimal SSE client (node:http, no agent): calls `onData(json)` per message. */
function sseClient(url, headers, onData) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE ${url}: ${res.statusCode}`));
      res.setEncoding("utf8");
      let buffer = "";
      res.on("data", (chunk) => {
        buffer += chunk;
        let i = buffer.indexOf("\n\n");
        while (i >= 0) {
          const frame = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const data = frame.split("\n").find((l) => l.startsWith("data: "));
          if (data) onData(JSON.parse(data.slice(6)));
          i = buffer.indexOf("\n\n");
        }
      });
      resolve({ close: () => res.destroy() });
    });
    req.once("error", reject);
    req.end();
  });
}

async function measureBaseline(count, log) {
  const server = await startChild({ kind: "sse" });
  const waiters = new Map();
  const clients = [];
  try {
    for (let v = 0; v < VERIFIERS; v++) {
      clients.push(
        await sseClient(`${server.url}/events`, {}, (event) => {
          const i = Number(event.cascade.tokens[0].id.slice(4));
          waiters.get(i)?.(performance.now());
        }),
      );
    }
    const revoke = async (i) => {
      const body = JSON.stringify({
        id: i + 1,
        at: Math.floor(Date.now() / 1000),
        target: `tok_${i}`,
        reason: null,
        cascade: { principals: [], agents: [], grants: [], tokens: [{ id: `tok_${i}`, exp: 0 }] },
      });
      const res = await fetch(`${server.url}/revoke`, { method: "POST", body });
      await res.text();
    };
    const { afterReturn, roundtrips, missed } = await drive(count, revoke, waiters);
    if (missed) log(`    baseline: ${missed} deliveries missed`);
    return { summary: summarize(afterReturn, roundtrips, missed, "minimal SSE clients") };
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
}

async function measureDeputy(sc, count, log) {
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-prop-"));
  const schema = `bench_prop_${randomBytes(6).toString("hex")}`;
  const db = sc.pgUrl ? { databaseUrl: sc.pgUrl, databaseSchema: schema } : {};
  const children = [];
  const verifiers = [];
  try {
    const a = await startChild({ kind: "deputy", dataDir, adminToken: BENCH_ADMIN_TOKEN, ...db });
    children.push(a);
    let b = a;
    if (sc.replicas === 2) {
      // B shares A's issuer URL (as replicas behind one load balancer do), so its own address is
      // the port it was given, not the `url` it reports.
      const port = await freePort();
      const child = await startChild({
        kind: "deputy",
        dataDir,
        adminToken: BENCH_ADMIN_TOKEN,
        issuer: a.url,
        port,
        ...db,
      });
      children.push(child);
      b = { url: `http://127.0.0.1:${port}` };
    }
    const issuer = a.url;
    const { agents, resource } = await setupThroughApi(issuer, { agents: 10 });
    const tokens = await fetchTokens(
      issuer,
      presign(issuer, count, (i) => agents[i % agents.length]),
    );
    const jtis = tokens.map((t) => JSON.parse(Buffer.from(t.split(".")[1], "base64url").toString()).jti);
    const index = new Map(jtis.map((jti, i) => [jti, i]));
    log(
      `    ${sc.id}: ${count} tokens issued through ${issuer}${sc.replicas === 2 ? `; verifiers on ${b.url}` : ""}`,
    );

    const waiters = new Map();
    // Everything a verifier fetches goes to B (in the one-server case B is A).
    const toB = (input, init) => {
      const url = String(input instanceof Request ? input.url : input).replace(issuer, b.url);
      return fetch(url, init);
    };
    const { createVerifier } = await import("../../packages/sdk/dist/verifier.js");
    for (let v = 0; v < VERIFIERS; v++) {
      const verifier = createVerifier({
        issuer,
        audience: BENCH_RESOURCE,
        resourceId: resource.id,
        resourceSecret: resource.secret,
        fetch: toB,
        onError: () => {},
        onRevocation: (event) => {
          for (const t of event.cascade.tokens) {
            const i = index.get(t.id);
            if (i === undefined) continue;
            verifier.verifyToken(tokens[i], TOKEN_ONLY).then(
              () => log(`    verifier accepted revoked token ${t.id}`),
              (err) => {
                if (err?.code === "ERR_TOKEN_REVOKED") waiters.get(i)?.(performance.now());
                else log(`    verifier: unexpected ${err?.code}: ${err?.message}`);
              },
            );
          }
        },
      });
      verifiers.push(verifier);
      await verifier.start();
    }
    // Every stream is connected before the first revocation (a stream that connects later starts
    // from "now" and would miss earlier events by design).
    const deadline = Date.now() + 15_000;
    while (verifiers.some((v) => !v.health().streamConnected) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (verifiers.some((v) => !v.health().streamConnected))
      throw new Error("verifier streams did not connect");
    // Warm: every verifier has verified token 0 once (JWKS, status list, code paths).
    for (const v of verifiers) await v.verifyToken(tokens[0], TOKEN_ONLY).catch(() => {});

    const api = adminApi(issuer);
    const revoke = (i) => api("POST", "/v1/revocations", { target: jtis[i], reason: "bench" });
    const { afterReturn, roundtrips, missed } = await drive(count, revoke, waiters);
    return { summary: summarize(afterReturn, roundtrips, missed, "@deputy/sdk/verifier") };
  } finally {
    for (const v of verifiers) await v.close();
    for (const c of children.reverse()) await c.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (sc.pgUrl) {
      const pg = requireFromServer("pg");
      const client = new pg.Client({ connectionString: sc.pgUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  }
}
