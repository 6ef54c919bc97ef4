/**
 * Does a second server process pay on this machine? Deputy single-process against Deputy with
 * two `node:cluster` workers over the same kind of database (`serveCluster`, the path behind
 * `deputy serve --workers`), for issuance and introspection, in interleaved rounds, with the load
 * generator sharing the same cores as it does in every other benchmark here.
 *
 * SQLite always (two processes share one WAL database; writers serialise on its lock), and
 * PostgreSQL issuance when DEPUTY_BENCH_DATABASE_URL is set.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_ADMIN_TOKEN, fetchTokens, presign, setupThroughApi } from "../lib/agents.js";
import { startChild } from "../lib/children.js";
import { CONNECTIONS, cycle, queue } from "../lib/load.js";
import { requireFromServer } from "../lib/paths.js";
import { figure } from "../lib/report.js";
import { failures, interleave, medianRate, pairedRatio, summarize } from "../lib/rounds.js";
import { roundsConfig } from "./issuance.js";

export const description =
  "Deputy with 2 cluster workers vs 1 process (issuance, introspection), on a 2-core machine";

export async function run({ quick, log }) {
  const figures = [];
  const details = { connections: CONNECTIONS, ...roundsConfig(quick), databases: {} };
  const databases = [{ kind: "sqlite", workloads: ["issuance", "introspection"] }];
  const pgUrl = process.env.DEPUTY_BENCH_DATABASE_URL;
  if (pgUrl && !quick) databases.push({ kind: "postgres", url: pgUrl, workloads: ["issuance"] });
  else if (!pgUrl) log("    PostgreSQL skipped: set DEPUTY_BENCH_DATABASE_URL=postgres://… to include it");

  for (const db of databases) {
    try {
      await measure(db);
    } catch (err) {
      // One database failing (a server error under load, say) must not hide the others' figures.
      log(`    ${db.kind} FAILED: ${err?.message ?? err}`);
      figures.push(
        figure({
          id: `cluster.${db.kind}`,
          label: `2 cluster workers (${db.kind})`,
          error: String(err?.message ?? err),
        }),
      );
    }
  }
  return { figures, details };

  async function measure(db) {
    const dirs = [];
    const schemas = [];
    const children = [];
    try {
      const servers = {};
      for (const [name, workers] of [
        ["one process", 1],
        ["2 workers", 2],
      ]) {
        const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-cluster-"));
        dirs.push(dataDir);
        const dbOptions = {};
        if (db.kind === "postgres") {
          const schema = `bench_cluster_${randomBytes(6).toString("hex")}`;
          schemas.push(schema);
          Object.assign(dbOptions, { databaseUrl: db.url, databaseSchema: schema });
        }
        const child = await startChild({
          kind: "deputy",
          dataDir,
          adminToken: BENCH_ADMIN_TOKEN,
          workers,
          accessTokenTtl: 3600,
          ...dbOptions,
        });
        children.push(child);
        const { agents, resource } = await setupThroughApi(child.url, { agents: quick ? 50 : 200 });
        const tokens = await fetchTokens(
          child.url,
          presign(child.url, quick ? 100 : 500, (i) => agents[i % agents.length]),
        );
        const authorization = `Basic ${Buffer.from(`${resource.id}:${resource.secret}`).toString("base64")}`;
        const introspections = tokens.map((token) => ({
          headers: { "content-type": "application/x-www-form-urlencoded", authorization },
          body: `token=${token}`,
        }));
        let k = 0;
        servers[name] = {
          child,
          issuance: (n) => queue(presign(child.url, n, () => agents[k++ % agents.length])),
          introspection: () => cycle(introspections),
        };
      }
      for (const workload of db.workloads) {
        log(`    ${db.kind}, ${workload}:`);
        const runs = await interleave({
          ...roundsConfig(quick),
          log,
          subjects: Object.entries(servers).map(([name, s]) => ({
            name,
            url: s.child.url,
            child: s.child,
            path: workload === "issuance" ? "/oauth/token" : "/oauth/introspect",
            prepare: s[workload],
          })),
        });
        const bad = failures(runs["2 workers"]);
        figures.push(
          figure({
            id: `cluster.${db.kind}.${workload}`,
            label: `${workload} with 2 cluster workers (${db.kind === "sqlite" ? "SQLite" : "PostgreSQL"})`,
            value: medianRate(runs["2 workers"]),
            unit: "req/s",
            baseline: { label: "one process", value: medianRate(runs["one process"]), unit: "req/s" },
            ratio: pairedRatio(runs["2 workers"], runs["one process"]),
            ...(bad.non2xx || bad.errors
              ? { note: `${bad.non2xx} refused and ${bad.errors} failed requests (not counted in the rate)` }
              : {}),
          }),
        );
        details.databases[`${db.kind}.${workload}`] = {
          one: summarize(runs["one process"]),
          two: summarize(runs["2 workers"]),
        };
      }
    } finally {
      for (const c of children.reverse()) await c.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      if (schemas.length) await dropSchemas(db.url, schemas);
    }
  }
}

async function dropSchemas(url, schemas) {
  const pg = requireFromServer("pg");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await client.end();
  }
}
