/**
 * Issuance at scale: the same token requests (client_credentials + private_key_jwt + DPoP) against
 * a SQLite database holding 1,000,000 agents and 1,000,000 grants (100,000 principals), and
 * against one holding 1,000 agents and 1,000 grants populated the same way, in interleaved rounds.
 * Every request is for an agent drawn uniformly from the whole table, so the working set is
 * the table, not a hot corner of it. Reports the database size.
 *
 * The populated databases are cached in bench/results/cache/ (see lib/populate.js); each run
 * works on a fresh copy, so the cache never grows.
 */
import { copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_ADMIN_TOKEN, fetchTokens, presign } from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { CONNECTIONS, queue } from "../lib/load.js";
import { agentSampler, populatedDatabase } from "../lib/populate.js";
import { figure } from "../lib/report.js";
import { failures, interleave, medianRate, pairedRatio, summarize } from "../lib/rounds.js";
import { roundsConfig } from "./issuance.js";

export const description = "issuance with 1,000,000 agents and grants in SQLite vs with 1,000; database size";

const LARGE = 1_000_000;
const SMALL = 1_000;

function fileMb(path) {
  try {
    return statSync(path).size / 2 ** 20;
  } catch {
    return 0;
  }
}

export async function run({ quick, log }) {
  const large = quick ? 20_000 : LARGE;
  const dbs = {
    small: await populatedDatabase({ agents: SMALL, log }),
    large: await populatedDatabase({ agents: large, log }),
  };
  const dirs = [];
  const children = [];
  const samplers = [];
  try {
    const servers = {};
    for (const [name, db] of Object.entries(dbs)) {
      const dataDir = mkdtempSync(join(tmpdir(), `deputy-bench-scale-${name}-`));
      dirs.push(dataDir);
      copyFileSync(db.path, join(dataDir, "deputy.db"));
      const child = await startChild({ kind: "deputy", dataDir, adminToken: BENCH_ADMIN_TOKEN });
      children.push(child);
      const sampler = agentSampler(db.path);
      samplers.push(sampler);
      servers[name] = { child, sampler, dataDir };
      // A first token proves the populated rows are usable as they are.
      await fetchTokens(
        child.url,
        presign(child.url, 20, () => sampler.sample()),
      );
    }
    const runs = await interleave({
      ...roundsConfig(quick),
      log,
      subjects: Object.entries(servers).map(([name, s]) => ({
        name,
        url: s.child.url,
        child: s.child,
        path: "/oauth/token",
        prepare: (n) => queue(presign(s.child.url, n, () => s.sampler.sample())),
      })),
    });
    const bad = failures(runs.large);
    const sizeAfter =
      fileMb(join(servers.large.dataDir, "deputy.db")) + fileMb(join(servers.large.dataDir, "deputy.db-wal"));
    const count = large.toLocaleString("en-US");
    return {
      figures: [
        figure({
          id: "scale.issuance",
          label: `token issuance with ${count} agents and ${count} grants (SQLite)`,
          value: medianRate(runs.large),
          unit: "req/s",
          baseline: { label: "same with 1,000 agents", value: medianRate(runs.small), unit: "req/s" },
          ratio: pairedRatio(runs.large, runs.small),
          // "Within 20% of the 1,000-agent figure".
          ...(quick ? {} : { target: { on: "ratio", op: ">=", value: 0.8 } }),
          ...(bad.non2xx || bad.errors
            ? { note: `${bad.non2xx} refused and ${bad.errors} failed requests (not counted in the rate)` }
            : {}),
        }),
        figure({
          id: "scale.db-size",
          label: `SQLite database size with ${count} agents, ${count} grants, ${dbs.large.principals.toLocaleString("en-US")} principals`,
          value: dbs.large.bytes / 2 ** 20,
          unit: "MB",
          baseline: { label: "with 1,000 agents", value: dbs.small.bytes / 2 ** 20, unit: "MB" },
          ratio: dbs.large.bytes / dbs.small.bytes,
          note:
            `${((dbs.large.bytes / large) | 0).toLocaleString("en-US")} bytes per agent (agent + key + grant + indexes); ` +
            `${sizeAfter.toFixed(0)} MB after the run (tokens, replay nonces and audit entries added)`,
        }),
      ],
      details: {
        agents: { small: SMALL, large },
        connections: CONNECTIONS,
        ...roundsConfig(quick),
        databases: dbs,
        size_after_run_mb: sizeAfter,
        rounds_detail: { small: summarize(runs.small), large: summarize(runs.large) },
      },
    };
  } finally {
    for (const s of samplers) s.close();
    for (const c of children.reverse()) await c.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
