/**
 * RFC 7662 introspection over HTTP (HTTP Basic as a registered resource, `token=`), against a bare
 * node:http server, in interleaved rounds with the same load generator and concurrency. Each call
 * checks signature and claims, reads the token's record (revocation state) and appends one audit
 * entry (`token.introspected`), as in production.
 *
 * The tokens are real: 1,000 tokens (100 with --quick) minted for 100 agents before the first
 * round, introspected in turn; a sample is checked to still answer `active: true` afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_ADMIN_TOKEN, fetchTokens, presign, setupThroughApi } from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { CONNECTIONS, cycle } from "../lib/load.js";
import { figure } from "../lib/report.js";
import { failures, interleave, medianRate, pairedRatio, summarize } from "../lib/rounds.js";
import { roundsConfig } from "./issuance.js";

export const description =
  "token introspection over HTTP (RFC 7662, resource Basic auth, audit) vs bare node:http";

export async function run({ quick, log }) {
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-introspection-"));
  const children = [];
  try {
    const bare = await startChild({ kind: "bare" });
    children.push(bare);
    // One-hour tokens, so none expires during the run (introspection costs the same either way).
    const deputy = await startChild({
      kind: "deputy",
      dataDir,
      adminToken: BENCH_ADMIN_TOKEN,
      accessTokenTtl: 3600,
    });
    children.push(deputy);
    const agentCount = quick ? 20 : 100;
    const tokenCount = quick ? 100 : 1000;
    log(`    setting up ${agentCount} agents and minting ${tokenCount} tokens…`);
    const { agents, resource } = await setupThroughApi(deputy.url, { agents: agentCount });
    const tokens = await fetchTokens(
      deputy.url,
      presign(deputy.url, tokenCount, (i) => agents[i % agentCount]),
    );
    const authorization = `Basic ${Buffer.from(`${resource.id}:${resource.secret}`).toString("base64")}`;
    const requests = tokens.map((token) => ({
      headers: { "content-type": "application/x-www-form-urlencoded", authorization },
      body: `token=${token}`,
    }));
    await expectActive(deputy.url, requests.slice(0, 3));

    const runs = await interleave({
      ...roundsConfig(quick),
      log,
      subjects: [
        {
          name: "bare",
          url: bare.url,
          child: bare,
          path: "/oauth/introspect",
          prepare: () => cycle(requests),
        },
        {
          name: "deputy",
          url: deputy.url,
          child: deputy,
          path: "/oauth/introspect",
          prepare: () => cycle(requests),
        },
      ],
    });
    await expectActive(deputy.url, requests.slice(-3));
    const bad = failures(runs.deputy);
    return {
      figures: [
        figure({
          id: "introspection",
          label: "token introspection (RFC 7662, Basic auth, record lookup, audit)",
          value: medianRate(runs.deputy),
          unit: "req/s",
          baseline: { label: "bare node:http", value: medianRate(runs.bare), unit: "req/s" },
          ratio: pairedRatio(runs.deputy, runs.bare),
          target: { on: "ratio", op: ">=", value: 0.35 },
          ...(bad.non2xx || bad.errors
            ? { note: `${bad.non2xx} refused and ${bad.errors} failed requests (not counted in the rate)` }
            : {}),
        }),
      ],
      details: {
        tokens: tokenCount,
        connections: CONNECTIONS,
        ...roundsConfig(quick),
        rounds_detail: { bare: summarize(runs.bare), deputy: summarize(runs.deputy) },
      },
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function expectActive(url, requests) {
  for (const r of requests) {
    const res = await fetch(`${url}/oauth/introspect`, { method: "POST", headers: r.headers, body: r.body });
    const body = await res.json();
    if (res.status !== 200 || body.active !== true) {
      throw new Error(`introspection did not answer active: ${res.status} ${JSON.stringify(body)}`);
    }
  }
}
