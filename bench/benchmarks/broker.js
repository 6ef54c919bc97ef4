/**
 * The credential broker's gateway (`/proxy/{connection}/{path}`), against an upstream node:http
 * server on loopback, in the same run as its baselines:
 *
 * 1. Added latency: sequential calls (one at a time, keep-alive) straight to the upstream and
 *    through Deputy, alternating, each through Deputy with a fresh DPoP proof (signed before the
 *    timed window). Added latency = percentile(through Deputy) − percentile(direct). Targets:
 *    p50 ≤ 1 ms, p99 ≤ 5 ms (issue #5).
 * 2. Throughput: interleaved rounds through a bare node:http reverse proxy and through Deputy,
 *    same load generator and concurrency. Target: ≥ 0.5 × the bare proxy. A third subject, the
 *    same bare proxy verifying each call's DPoP proof signature first (one Ed25519 verify, as
 *    RFC 9449 §4.3 requires of every DPoP-checking server), is the floor of any such gateway on
 *    this machine: its ratio to the bare proxy bounds what Deputy's ratio can reach here.
 * 3. Memory: one 1 GiB response streamed through Deputy while its RSS is sampled every 50 ms.
 *    Target: peak RSS < 200 MB.
 *
 * Every Deputy call is a full one: token signature (cached after the first), audience, DPoP proof
 * (signature, htm, htu, ath, single-use jti in the store), token state in the store, rules,
 * credential injection, streaming, and one audit entry.
 */

import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { adminApi, BENCH_ADMIN_TOKEN, seededKey, signJwt, tokenRequest } from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { CONNECTIONS } from "../lib/load.js";
import { figure } from "../lib/report.js";
import { failures, interleave, medianRate, pairedRatio, summarize } from "../lib/rounds.js";
import { roundsConfig } from "./issuance.js";

export const description =
  "broker gateway /proxy: added latency over a direct call, throughput vs a bare node:http reverse proxy, RSS streaming 1 GiB";

const AUD = "urn:deputy:connection:bench";
const PATH = "/proxy/bench/items";

export async function run({ quick, log }) {
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-broker-"));
  const children = [];
  try {
    const upstream = await startChild({ kind: "upstream" });
    children.push(upstream);
    const proxy = await startChild({ kind: "proxy", upstream: upstream.url });
    children.push(proxy);
    const dpopProxy = await startChild({ kind: "proxy", upstream: upstream.url, verifyDpop: true });
    children.push(dpopProxy);
    const deputy = await startChild({
      kind: "deputy",
      dataDir,
      adminToken: BENCH_ADMIN_TOKEN,
      accessTokenTtl: 3600,
      broker: true,
    });
    children.push(deputy);
    const api = adminApi(deputy.url);
    const key = seededKey("broker-agent");
    const principal = await api("POST", "/v1/principals", { type: "service", name: "bench" });
    await api("POST", "/v1/connections", {
      name: "bench",
      upstream: upstream.url,
      auth: { type: "bearer", secret: "bench-upstream-secret" },
      rules: [{ scope: "items:rw", methods: ["GET", "POST"], paths: ["/items", "/big"] }],
    });
    const agent = await api("POST", "/v1/agents", {
      principal: principal.id,
      name: "bench-agent",
      jwks: { keys: [key.publicJwk] },
    });
    await api("POST", "/v1/grants", {
      agent: agent.id,
      scopes: ["items:rw"],
      resources: [AUD],
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    const tr = tokenRequest({ issuer: deputy.url, agentId: agent.id, key, resource: AUD, scope: "items:rw" });
    const tokenRes = await fetch(`${deputy.url}/oauth/token`, {
      method: "POST",
      headers: tr.headers,
      body: tr.body,
    });
    if (tokenRes.status !== 200) throw new Error(`token: ${tokenRes.status} ${await tokenRes.text()}`);
    const token = (await tokenRes.json()).access_token;
    const ath = createHash("sha256").update(token).digest("base64url");
    const proxied = (method, path, count) => {
      const iat = Math.floor(Date.now() / 1000);
      const out = [];
      for (let i = 0; i < count; i++) {
        const proof = signJwt(
          key,
          { typ: "dpop+jwt", jwk: key.publicJwk },
          { jti: randomUUID(), htm: method, htu: `${deputy.url}${path}`, iat, ath },
        );
        out.push({ headers: { authorization: `DPoP ${token}`, dpop: proof }, body: "" });
      }
      return out;
    };

    // 1. Added latency, one call at a time.
    const samples = quick ? 300 : 3000;
    log(`    latency: ${samples} sequential calls each way, alternating…`);
    const agentHttp = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const direct = [];
    const through = [];
    for (let done = 0; done < samples; ) {
      const batch = Math.min(500, samples - done);
      const reqs = proxied("GET", PATH, batch);
      for (let i = 0; i < batch; i++) {
        direct.push(await timed(agentHttp, upstream.url, "/items", {}));
        const r = reqs[i];
        through.push(await timed(agentHttp, deputy.url, PATH, r.headers));
      }
      done += batch;
    }
    const pct = (xs, p) => {
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
    };
    const added50 = pct(through, 50) - pct(direct, 50);
    const added99 = pct(through, 99) - pct(direct, 99);
    agentHttp.destroy();

    // 2. Throughput against a bare node:http reverse proxy, and the same proxy checking DPoP proofs.
    const [probe] = proxied("POST", PATH, 1);
    await expectStatus(dpopProxy.url, "/items", probe.headers, 200);
    const forged = { ...probe.headers, dpop: `${probe.headers.dpop.slice(0, -4)}AAAA` };
    await expectStatus(dpopProxy.url, "/items", forged, 401);
    let pending = [];
    const upTo = (list) => {
      let i = 0;
      return () => list[Math.min(i++, list.length - 1)];
    };
    const runs = await interleave({
      ...roundsConfig(quick),
      log,
      subjects: [
        {
          name: "proxy",
          url: proxy.url,
          child: proxy,
          path: "/items",
          prepare: () => () => ({ headers: {}, body: "" }),
        },
        {
          name: "deputy",
          url: deputy.url,
          child: deputy,
          path: PATH,
          prepare: (count) => {
            pending = proxied("POST", PATH, count);
            return upTo(pending);
          },
        },
        {
          name: "dpop-proxy",
          url: dpopProxy.url,
          child: dpopProxy,
          path: "/items",
          prepare: (count) => upTo(proxied("POST", PATH, count)),
        },
      ],
    });
    const bad = failures(runs.deputy);

    // 3. RSS while streaming 1 GiB (64 MiB with --quick).
    const mb = quick ? 64 : 1024;
    log(`    streaming ${mb} MiB through the gateway while sampling the server's RSS…`);
    const [big] = proxied("GET", "/proxy/bench/big", 1);
    let peak = deputy.memory().rss_mb;
    const baseRss = peak;
    const sampler = setInterval(() => {
      peak = Math.max(peak, deputy.memory().rss_mb);
    }, 50);
    const t0 = performance.now();
    const bytes = await drain(deputy.url, `/proxy/bench/big?mb=${mb}`, big.headers);
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, deputy.memory().rss_mb);
    if (bytes !== mb * 1048576) throw new Error(`streamed ${bytes} bytes, expected ${mb * 1048576}`);

    return {
      figures: [
        figure({
          id: "broker-latency-p50",
          label: "broker: added latency over a direct call, p50",
          value: round3(added50),
          unit: "ms",
          baseline: { label: "direct p50", value: round3(pct(direct, 50)), unit: "ms" },
          target: { on: "value", op: "<=", value: 1 },
        }),
        figure({
          id: "broker-latency-p99",
          label: "broker: added latency over a direct call, p99",
          value: round3(added99),
          unit: "ms",
          baseline: { label: "direct p99", value: round3(pct(direct, 99)), unit: "ms" },
          target: { on: "value", op: "<=", value: 5 },
        }),
        figure({
          id: "broker-throughput",
          label: "broker: /proxy calls (DPoP, rules, injection, audit)",
          value: medianRate(runs.deputy),
          unit: "req/s",
          baseline: { label: "bare node:http reverse proxy", value: medianRate(runs.proxy), unit: "req/s" },
          ratio: pairedRatio(runs.deputy, runs.proxy),
          target: { on: "ratio", op: ">=", value: 0.5 },
          ...(bad.non2xx || bad.errors
            ? { note: `${bad.non2xx} refused and ${bad.errors} failed requests (not counted in the rate)` }
            : {}),
        }),
        figure({
          id: "broker-throughput.floor",
          label: "broker floor: the bare reverse proxy verifying each DPoP proof's signature",
          value: medianRate(runs["dpop-proxy"]),
          unit: "req/s",
          baseline: { label: "bare node:http reverse proxy", value: medianRate(runs.proxy), unit: "req/s" },
          ratio: pairedRatio(runs["dpop-proxy"], runs.proxy),
          note: "the most any DPoP-checking gateway can reach on this machine; Deputy's ratio cannot exceed it",
        }),
        figure({
          id: "broker-throughput.vs-floor",
          label: "broker: Deputy relative to that floor",
          value: medianRate(runs.deputy),
          unit: "req/s",
          baseline: {
            label: "DPoP-checking bare proxy",
            value: medianRate(runs["dpop-proxy"]),
            unit: "req/s",
          },
          ratio: pairedRatio(runs.deputy, runs["dpop-proxy"]),
        }),
        figure({
          id: "broker-stream-rss",
          label: `broker: peak server RSS streaming ${mb} MiB`,
          value: Math.round(peak),
          unit: "MB",
          baseline: { label: "RSS before", value: Math.round(baseRss), unit: "MB" },
          target: { on: "value", op: "<=", value: 200 },
          note: `${Math.round(mb / seconds)} MiB/s`,
        }),
      ],
      details: {
        samples,
        latency_ms: {
          direct: { p50: pct(direct, 50), p99: pct(direct, 99) },
          through: { p50: pct(through, 50), p99: pct(through, 99) },
        },
        connections: CONNECTIONS,
        ...roundsConfig(quick),
        rounds_detail: {
          proxy: summarize(runs.proxy),
          deputy: summarize(runs.deputy),
          dpop_proxy: summarize(runs["dpop-proxy"]),
        },
        stream: { mib: mb, seconds, peak_rss_mb: peak, rss_before_mb: baseRss },
      },
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const round3 = (x) => Math.round(x * 1000) / 1000;

/** One GET, timed from send to the last body byte, in ms; throws on a non-2xx answer. */
function timed(agent, base, path, headers) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      { hostname: u.hostname, port: u.port, path, method: "GET", headers, agent },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode}`));
          else resolve(performance.now() - t0);
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** One POST with an empty body; throws unless it answers `status`. */
async function expectStatus(base, path, headers, status) {
  const res = await fetch(`${base}${path}`, { method: "POST", headers, body: "" });
  await res.arrayBuffer();
  if (res.status !== status) throw new Error(`${base}${path}: ${res.status}, expected ${status}`);
}

/** Reads a whole response body without keeping it; answers its length. */
function drain(base, path, headers) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path, method: "GET", headers }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode}`));
      let n = 0;
      res.on("data", (c) => {
        n += c.length;
      });
      res.on("end", () => resolve(n));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
