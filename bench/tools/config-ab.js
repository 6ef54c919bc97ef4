/**
 * A diagnostic, not a benchmark: two Deputy servers that differ only in configuration, under the
 * introspection benchmark's load (100 agents, 1,000 tokens, 32 connections), in interleaved rounds,
 * printing each one's median rate and the paired ratio B ÷ A. Settings the server child takes
 * directly (bench/server-child.js, `options.config`), so they are exact whatever the environment.
 *
 *   node bench/tools/config-ab.js '{}' '{"sqliteCheckpointThread":true}' [rounds]
 *
 * Prints one JSON line: a, b (the configurations), rate_a, rate_b, ratio_b_over_a, rounds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_ADMIN_TOKEN, fetchTokens, presign, setupThroughApi } from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { cycle } from "../lib/load.js";
import { serverModule } from "../lib/paths.js";
import { interleave, medianRate, pairedRatio } from "../lib/rounds.js";

const [a, b] = [JSON.parse(process.argv[2] ?? "{}"), JSON.parse(process.argv[3] ?? "{}")];
const rounds = Number(process.argv[4] ?? 6);
// A name that is not a setting would be ignored by the server, and two identical servers compared.
const { SETTINGS } = await import(serverModule("config/defaults.js"));
const unknown = [...Object.keys(a), ...Object.keys(b)].filter((k) => !Object.hasOwn(SETTINGS, k));
if (unknown.length > 0) {
  console.error(`not settings of Deputy (config/defaults.ts): ${unknown.join(", ")}`);
  process.exit(2);
}

async function start(config) {
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-config-ab-"));
  const child = await startChild({
    kind: "deputy",
    dataDir,
    adminToken: BENCH_ADMIN_TOKEN,
    accessTokenTtl: 3600,
    config,
  });
  const { agents, resource } = await setupThroughApi(child.url, { agents: 100 });
  const tokens = await fetchTokens(
    child.url,
    presign(child.url, 1000, (i) => agents[i % 100]),
  );
  const authorization = `Basic ${Buffer.from(`${resource.id}:${resource.secret}`).toString("base64")}`;
  const requests = tokens.map((token) => ({
    headers: { "content-type": "application/x-www-form-urlencoded", authorization },
    body: `token=${token}`,
  }));
  return { child, requests, dataDir };
}

const servers = { A: await start(a), B: await start(b) };
try {
  const runs = await interleave({
    rounds,
    seconds: 4,
    log: (line) => process.stderr.write(`${line}\n`),
    subjects: Object.entries(servers).map(([name, s]) => ({
      name,
      url: s.child.url,
      child: s.child,
      path: "/oauth/introspect",
      prepare: () => cycle(s.requests),
    })),
  });
  console.log(
    JSON.stringify({
      a,
      b,
      rate_a: Math.round(medianRate(runs.A)),
      rate_b: Math.round(medianRate(runs.B)),
      ratio_b_over_a: Math.round(pairedRatio(runs.B, runs.A) * 1000) / 1000,
      rounds,
    }),
  );
} finally {
  for (const s of Object.values(servers)) {
    await s.child.stop();
    rmSync(s.dataDir, { recursive: true, force: true });
  }
}
