/**
 * Token issuance over HTTP: `client_credentials` + `private_key_jwt` + DPoP on SQLite with
 * attribution (one audit entry per token), against a bare node:http server and against the peer
 * oidc-provider (JWT access tokens, `client_secret_basic`, no DPoP), in interleaved rounds with
 * the same load generator and concurrency. Also the server's RSS, idle and peak.
 *
 * A third baseline, `signatures`, is the floor of any implementation on this machine: bare
 * node:http doing only the three signature operations every such token needs (verify the client
 * assertion, verify the DPoP proof, sign the token) on the same pre-signed requests. Its ratio to
 * the bare server bounds what the issuance ratio can reach here.
 *
 * Every Deputy request carries a fresh client assertion and DPoP proof (single-use jtis),
 * pre-signed before its round so that signing on the load side is never the bottleneck. Requests
 * are spread over 1,000 agents (50 with --quick) set up through the admin API.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BENCH_ADMIN_TOKEN,
  BENCH_RESOURCE,
  fetchTokens,
  presign,
  setupThroughApi,
  tokenRequest,
} from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { CONNECTIONS, cycle, queue } from "../lib/load.js";
import { figure } from "../lib/report.js";
import { failures, interleave, medianRate, pairedRatio, summarize } from "../lib/rounds.js";

export const description =
  "token issuance over HTTP (client_credentials + private_key_jwt + DPoP, SQLite, audit) vs bare node:http and oidc-provider; server RSS";

const PEER_CLIENT = { id: "bench-client", secret: "bench-client-secret-0123456789abcdefghij" };

export function roundsConfig(quick) {
  return quick
    ? { rounds: 2, seconds: 1, warmupSeconds: 0.5, warmupCount: 500 }
    : { rounds: 5, seconds: 4, warmupSeconds: 1.5, warmupCount: 3000 };
}

export async function run({ quick, log }) {
  const agentCount = quick ? 50 : 1000;
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-issuance-"));
  const children = [];
  try {
    const bare = await startChild({ kind: "bare" });
    children.push(bare);
    const deputy = await startChild({ kind: "deputy", dataDir, adminToken: BENCH_ADMIN_TOKEN });
    children.push(deputy);
    const peer = await startChild({
      kind: "oidc",
      clientId: PEER_CLIENT.id,
      clientSecret: PEER_CLIENT.secret,
      resource: BENCH_RESOURCE,
    });
    children.push(peer);

    log(`    setting up ${agentCount} agents with grants through the admin API…`);
    const { agents } = await setupThroughApi(deputy.url, { agents: agentCount });
    // Every agent can mint (and the server has touched each of them once, as in steady state).
    await fetchTokens(
      deputy.url,
      presign(deputy.url, agents.length, (i) => agents[i]),
    );
    const peerRequest = {
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${PEER_CLIENT.id}:${PEER_CLIENT.secret}`).toString("base64")}`,
      },
      body: `grant_type=client_credentials&scope=read&resource=${encodeURIComponent(BENCH_RESOURCE)}`,
    };
    await checkPeer(peer.url, peerRequest);
    // The signatures floor knows each agent's public key, as Deputy does from its registry.
    const keysFile = join(dataDir, "floor-keys.json");
    writeFileSync(keysFile, JSON.stringify(Object.fromEntries(agents.map((a) => [a.id, a.key.publicJwk]))));
    const floor = await startChild({ kind: "signatures", keysFile });
    children.push(floor);
    await checkFloor(floor.url, presign(deputy.url, 1, () => agents[0])[0]);
    await sleep(1000);
    const idle = { deputy: deputy.memory(), bare: bare.memory(), peer: peer.memory() };
    log(`    idle RSS: deputy ${idle.deputy.rss_mb.toFixed(1)} MB, bare ${idle.bare.rss_mb.toFixed(1)} MB`);

    // The bare server gets a request of the same shape and size as Deputy's.
    const bareRequest = tokenRequest({ issuer: deputy.url, agentId: agents[0].id, key: agents[0].key });
    let rng = 1;
    const pick = () => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return agents[rng % agents.length];
    };
    const cfg = roundsConfig(quick);
    const runs = await interleave({
      ...cfg,
      log,
      subjects: [
        {
          name: "bare",
          url: bare.url,
          child: bare,
          path: "/oauth/token",
          prepare: () => cycle([bareRequest]),
        },
        {
          name: "deputy",
          url: deputy.url,
          child: deputy,
          path: "/oauth/token",
          prepare: (n) => queue(presign(deputy.url, n, pick)),
        },
        { name: "peer", url: peer.url, child: peer, path: "/token", prepare: () => cycle([peerRequest]) },
        {
          name: "signatures",
          url: floor.url,
          child: floor,
          path: "/oauth/token",
          prepare: (n) => queue(presign(deputy.url, n, pick)),
        },
      ],
    });
    const peak = { deputy: deputy.memory(), bare: bare.memory(), peer: peer.memory() };
    const bad = failures(runs.deputy);
    const bareFig = { label: "bare node:http", value: medianRate(runs.bare), unit: "req/s" };
    const figures = [
      figure({
        id: "issuance",
        label: "token issuance (client_credentials + private_key_jwt + DPoP, SQLite, audit)",
        value: medianRate(runs.deputy),
        unit: "req/s",
        baseline: bareFig,
        ratio: pairedRatio(runs.deputy, runs.bare),
        target: { on: "ratio", op: ">=", value: 0.2 },
        ...(bad.non2xx || bad.errors
          ? { note: `${bad.non2xx} refused and ${bad.errors} failed requests (not counted in the rate)` }
          : {}),
      }),
      figure({
        id: "issuance.peer",
        label: "peer oidc-provider 9 issuance (JWT, client_secret_basic, no DPoP, in-memory)",
        value: medianRate(runs.peer),
        unit: "req/s",
        baseline: bareFig,
        ratio: pairedRatio(runs.peer, runs.bare),
        note: "reference point; issue 2 quotes about 0.11 × bare on this machine",
      }),
      figure({
        id: "issuance.vs-peer",
        label: "Deputy issuance relative to oidc-provider",
        value: medianRate(runs.deputy),
        unit: "req/s",
        baseline: { label: "oidc-provider", value: medianRate(runs.peer), unit: "req/s" },
        ratio: pairedRatio(runs.deputy, runs.peer),
      }),
      figure({
        id: "issuance.floor",
        label:
          "signatures alone: 2 Ed25519 verifies + 1 sign per token on bare node:http (any issuer's floor)",
        value: medianRate(runs.signatures),
        unit: "req/s",
        baseline: bareFig,
        ratio: pairedRatio(runs.signatures, runs.bare),
        note: "the most any implementation of this request can reach on this machine; Deputy's ratio cannot exceed it",
      }),
      figure({
        id: "issuance.vs-floor",
        label: "Deputy issuance relative to the signatures floor",
        value: medianRate(runs.deputy),
        unit: "req/s",
        baseline: { label: "signatures alone", value: medianRate(runs.signatures), unit: "req/s" },
        ratio: pairedRatio(runs.deputy, runs.signatures),
      }),
      figure({
        id: "rss.idle",
        label: "Deputy server RSS, idle after start and setup",
        value: idle.deputy.rss_mb,
        unit: "MB",
        baseline: { label: "bare node:http RSS", value: idle.bare.rss_mb, unit: "MB" },
        ratio: idle.deputy.rss_mb / idle.bare.rss_mb,
        target: { on: "value", op: "<=", value: 120, unit: "MB" },
      }),
      figure({
        id: "rss.peak",
        label: "Deputy server peak RSS (VmHWM) through the issuance benchmark",
        value: peak.deputy.hwm_mb,
        unit: "MB",
        baseline: { label: "bare node:http peak RSS", value: peak.bare.hwm_mb, unit: "MB" },
        ratio: peak.deputy.hwm_mb / peak.bare.hwm_mb,
        target: { on: "value", op: "<=", value: 300, unit: "MB" },
      }),
    ];
    return {
      figures,
      details: {
        agents: agentCount,
        connections: CONNECTIONS,
        ...cfg,
        memory_mb: { idle, after: peak },
        rounds_detail: {
          bare: summarize(runs.bare),
          deputy: summarize(runs.deputy),
          peer: summarize(runs.peer),
          signatures: summarize(runs.signatures),
        },
      },
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function checkFloor(url, request) {
  const res = await fetch(`${url}/oauth/token`, {
    method: "POST",
    headers: request.headers,
    body: request.body,
  });
  const body = await res.json().catch(() => null);
  if (res.status !== 200 || body?.token_type !== "DPoP") {
    throw new Error(`the signatures floor did not answer a token: ${res.status}`);
  }
  // A tampered assertion must be refused, or the floor would not be verifying anything.
  const tampered = request.body.replace(
    /client_assertion=([^&]+)/,
    (_, jws) => `client_assertion=${jws.slice(0, -4)}AAAA`,
  );
  const bad = await fetch(`${url}/oauth/token`, { method: "POST", headers: request.headers, body: tampered });
  await bad.arrayBuffer();
  if (bad.status !== 400)
    throw new Error(`the signatures floor accepted a tampered assertion: ${bad.status}`);
}

async function checkPeer(url, request) {
  const res = await fetch(`${url}/token`, { method: "POST", headers: request.headers, body: request.body });
  const body = await res.json();
  if (
    res.status !== 200 ||
    typeof body.access_token !== "string" ||
    body.access_token.split(".").length !== 3
  ) {
    throw new Error(`oidc-provider did not issue a JWT access token: ${res.status} ${JSON.stringify(body)}`);
  }
}
