/**
 * The audit ledger (issue 3 "Performance"), each figure against a baseline from the same run:
 *
 * 1. Sustained durable appends/s through the store (SQLite, group commit, each `Audit.record`
 *    answered only after its COMMIT), with the integrator running in the same process, against
 *    raw better-sqlite3 inserting the same rows in transactions of the same size. Also: how much
 *    of that the integrator sequenced into the tree meanwhile (integration keeping up), and the
 *    checkpoint lag at that load (the time from an entry's append to the first published
 *    checkpoint covering it, worst case) against the lag of a single append on an idle ledger.
 * 2. Token issuance over HTTP with the integrator on vs off (DEPUTY_AUDIT_LEDGER=false), in
 *    interleaved rounds.
 * 3. A log of 1,000,000 entries (50,000 with --quick), written straight into the tables: an
 *    inclusion proof over HTTP, p50 of sequential requests, against `GET /healthz` on the same
 *    server; and `deputy audit verify` (the built CLI, fetching and re-hashing every entry)
 *    against raw node:crypto recomputing the same root in-process.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { hash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { BENCH_ADMIN_TOKEN, fetchTokens, presign, setupThroughApi } from "../lib/agents.js";
import { appendLoad, auditEvent, openAuditTarget } from "../lib/audit-load.js";
import { CONNECTIONS, queue } from "../lib/load.js";
import { protocolModule, REPO_ROOT, requireFromServer, serverModule } from "../lib/paths.js";
import { figure, median } from "../lib/report.js";
import { failures, interleave, medianRate, pairedRatio, summarize } from "../lib/rounds.js";
import { roundsConfig } from "./issuance.js";

export const description =
  "audit ledger: durable appends/s with integration keeping up and checkpoint lag; issuance with the integrator on vs off; inclusion proof and `deputy audit verify` at 1,000,000 entries";

const LARGE = 1_000_000;
const DESIGN_ROWS = 128; // the store's group commit carries at most this many transactions
const DEPUTY_BIN = join(REPO_ROOT, "packages/server/bin/deputy.js");

export async function run({ quick, log }) {
  const figures = [];
  const details = {};
  const appends = await appendsAndLag({ quick, log, db: { kind: "sqlite" } });
  figures.push(...appends.figures);
  details.appends = appends.details;
  const pgUrl = process.env.DEPUTY_BENCH_DATABASE_URL;
  if (pgUrl) {
    const pg = await appendsAndLag({ quick, log, db: { kind: "postgres", url: pgUrl } });
    figures.push(...pg.figures);
    details.appendsPostgres = pg.details;
  } else log("    PostgreSQL appends skipped: set DEPUTY_BENCH_DATABASE_URL=postgres://… to include them");
  const issuance = await issuanceOnOff({ quick, log });
  figures.push(...issuance.figures);
  details.issuance = issuance.details;
  const large = await largeLog({ quick, log });
  figures.push(...large.figures);
  details.large = large.details;
  return { figures, details };
}

// ---------------------------------------------------------------------------------------------
// 1. Appends, integration and lag (in-process: the integrator shares the event loop, as it does
//    in `deputy serve`).

async function appendsAndLag({ quick, log, db }) {
  const pg = db.kind === "postgres";
  const schema = pg ? `bench_ledger_${randomBytes(6).toString("hex")}` : undefined;
  const seconds = quick ? 1.5 : 6;
  const dir = mkdtempSync(join(tmpdir(), "deputy-bench-ledger-"));
  try {
    const { store, audit, ledger } = await openAuditTarget(
      pg ? { url: db.url, schema } : { url: `sqlite:${join(dir, "deputy.db")}` },
    );
    ledger.follow(audit);
    ledger.start();

    // Idle lag: one entry on a quiet ledger, until a checkpoint covers it.
    const idleLags = [];
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      const index = await audit.record(auditEvent(k));
      while ((await store.auditTree.latestCheckpoint()).size <= index) await sleep(2);
      idleLags.push(performance.now() - t0);
      await sleep(300);
    }

    // Full load (appendLoad: 256 appenders, each waiting for its COMMIT). The same load runs first
    // for a warm-up that is not counted ("sustained" appends: on PostgreSQL, the first seconds of
    // a cold process and a new database ran 22,685 against 27,635 appends/s right after in one
    // pair, 23,206 against 24,810 in another). A sampler watches the published checkpoint during
    // the measured window.
    const appendedAt = new Float64Array(4_000_000);
    await appendLoad(audit, { seconds: quick ? 0.5 : 2, first: await store.audit.size() });
    // The warm-up's backlog is integrated before the window opens, so that it is not counted in it.
    const appendedSoFar = await store.audit.size();
    const deadline = performance.now() + 60_000;
    while ((await store.auditTree.state()).size < appendedSoFar) {
      if (performance.now() > deadline)
        throw new Error("the integrator did not catch up with the warm-up in 60 s");
      await sleep(5);
    }
    // And the page cache is written back first: the kernel writes dirty pages back once they are
    // 30 s old, so without this the window paid for whatever ran before it (measured: 121 MB left
    // dirty by the SQLite run halved the PostgreSQL run that followed, 11,467 against 21,233
    // appends/s after a `sync`, whose every COMMIT waits for its WAL fsync).
    writeBack();
    const startIntegrated = (await store.auditTree.state()).size;
    let maxLag = 0;
    const lags = [];
    let covered = (await store.auditTree.latestCheckpoint()).size;
    const first = await store.audit.size();
    let sampling = true;
    const t0 = performance.now();
    const measured = appendLoad(audit, {
      seconds,
      first,
      onAppended: (index) => {
        appendedAt[index] = performance.now();
      },
    });
    const sampler = (async () => {
      while (sampling) {
        await sleep(10);
        const size = (await store.auditTree.latestCheckpoint()).size;
        const now = performance.now();
        for (let i = covered; i < size; i++) {
          if (appendedAt[i] > 0) {
            const lag = now - appendedAt[i];
            if (i % 97 === 0) lags.push(lag);
            if (lag > maxLag) maxLag = lag;
          }
        }
        covered = Math.max(covered, size);
      }
    })();
    const appended = await measured;
    const elapsed = (performance.now() - t0) / 1000;
    sampling = false;
    await sampler;
    const integrated = (await store.auditTree.state()).size - startIntegrated;
    const appendRate = appended / elapsed;
    await expectDistinctEntries(store, appended);
    await ledger.stop();
    await store.close();
    writeBack();
    const raw = pg ? await rawPostgresAppends(db.url, schema, quick) : rawSqliteAppends(dir, quick);
    log(
      `    ${db.kind}: ${appended} appends in ${elapsed.toFixed(1)} s (${Math.round(appendRate)}/s), ${integrated} integrated meanwhile; raw driver ${Math.round(raw)}/s`,
    );
    return {
      figures: [
        figure({
          id: pg ? "ledger.appends.postgres" : "ledger.appends",
          label: pg
            ? "durable audit appends/s (Audit.record, PostgreSQL, integrator running)"
            : "durable audit appends/s (Audit.record, SQLite group commit, integrator running)",
          value: appendRate,
          unit: "entries/s",
          baseline: {
            label: pg
              ? `raw pg multi-row INSERTs, ${DESIGN_ROWS} rows per COMMIT`
              : `raw better-sqlite3 INSERTs, ${DESIGN_ROWS} rows per COMMIT`,
            value: raw,
            unit: "entries/s",
          },
          ratio: appendRate / raw,
          target: { on: "value", op: ">=", value: 20_000, unit: "entries/s" },
          note: "anchors (issue 3): Trillian Tessera about 1,500–2,900 durable appends/s on small VMs",
        }),
        figure({
          id: pg ? "ledger.integration.postgres" : "ledger.integration",
          label: `entries integrated into the Merkle tree and checkpointed while those appends ran (${db.kind})`,
          value: integrated / elapsed,
          unit: "entries/s",
          baseline: { label: "appends in the same window", value: appendRate, unit: "entries/s" },
          ratio: integrated / Math.max(1, appended),
          note: `backlog when the appends stopped: ${appended - integrated} entries (${((appended - integrated) / appendRate).toFixed(2)} s of appends)`,
        }),
        figure({
          id: pg ? "ledger.backlog.postgres" : "ledger.backlog",
          label: `integration backlog when the appends stopped, in seconds of appends (keeping up, ${db.kind})`,
          value: (appended - integrated) / appendRate,
          unit: "s",
          baseline: { label: "the 1 s checkpoint budget", value: 1, unit: "s" },
          ratio: (appended - integrated) / appendRate,
          target: { on: "value", op: "<=", value: 1, unit: "s" },
        }),
        figure({
          id: pg ? "ledger.lag.postgres" : "ledger.lag",
          label: `checkpoint lag at full append load (worst entry: append → first checkpoint covering it, ${db.kind})`,
          value: maxLag,
          unit: "ms",
          baseline: {
            label: "lag of one append on an idle ledger (median)",
            value: median(idleLags),
            unit: "ms",
          },
          ratio: maxLag / median(idleLags),
          target: { on: "value", op: "<=", value: 1000, unit: "ms" },
          note: `p50 ${median(lags).toFixed(0)} ms over sampled entries`,
        }),
      ],
      details: {
        seconds: elapsed,
        appended,
        integrated,
        idle_lag_ms: idleLags,
        max_lag_ms: maxLag,
        raw_rate: raw,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (pg) await dropSchema(db.url, schema);
  }
}

/**
 * The last appends must be different entries (each its own token id): a benchmark whose batches
 * repeated one entry measured appends at one end of every index (docs/benchmarks.md).
 */
async function expectDistinctEntries(store, appended) {
  const end = await store.audit.size();
  const entries = await store.audit.entries(Math.max(0, end - Math.min(appended, 2000)), end);
  const tokens = new Set(entries.map((e) => JSON.parse(e).token_id));
  if (tokens.size !== entries.length) {
    throw new Error(`the last ${entries.length} appends carried only ${tokens.size} distinct token ids`);
  }
}

/** `sync`: the kernel writes every dirty page back now rather than during a measured window. */
function writeBack() {
  const r = spawnSync("sync");
  if (r.error || r.status !== 0) throw new Error(`sync failed: ${r.error?.message ?? `exit ${r.status}`}`);
}

async function dropSchema(url, schema) {
  const pgDriver = requireFromServer("pg");
  const client = new pgDriver.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * The PostgreSQL floor: the same rows through the bare `pg` driver, DESIGN_ROWS per transaction
 * in one multi-row INSERT each, one connection, the server's default durability (synchronous
 * commit), into the table Deputy's migrations created.
 */
async function rawPostgresAppends(url, schema, quick) {
  const pgDriver = requireFromServer("pg");
  const client = new pgDriver.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${schema}"`);
    const start = Number(
      (await client.query("SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM audit_log")).rows[0].n,
    );
    const values = Array.from({ length: DESIGN_ROWS }, (_, r) => {
      const b = r * 12;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}, $${b + 10}, $${b + 11}, $${b + 12})`;
    }).join(", ");
    const text = `INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain, actor_principal,
      target, resource, token_id, grant_id, entry) VALUES ${values}`;
    const total = quick ? 20_000 : 100_000;
    const t0 = performance.now();
    for (let from = start; from < start + total; from += DESIGN_ROWS) {
      const params = [];
      for (let i = from; i < from + DESIGN_ROWS; i++) {
        const e = auditEvent(i);
        params.push(i, Date.now(), e.action, e.decision, e.actor.agent, "[]", e.actor.principal);
        params.push(e.target, e.resource, e.tokenId, e.grantId, JSON.stringify({ i, ...e }));
      }
      await client.query("BEGIN");
      await client.query({ name: "bench-ledger-raw", text, values: params });
      await client.query("COMMIT");
    }
    return total / ((performance.now() - t0) / 1000);
  } finally {
    await client.end();
  }
}

/** The floor: the same rows with prepared better-sqlite3 INSERTs, DESIGN_ROWS per transaction. */
function rawSqliteAppends(dir, quick) {
  const Database = requireFromServer("better-sqlite3");
  const db = new Database(join(dir, "deputy.db"));
  // The connection settings of Deputy's own (store/sqlite.ts): with SQLite's default 2 MB page
  // cache, inserts scattered over the token and agent indexes re-read pages and the floor would
  // sit far below Deputy.
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("cache_size = -32000");
  db.pragma("mmap_size = 1073741824");
  db.pragma("wal_autocheckpoint = 10000");
  const start = db.prepare("SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM audit_log").get().n;
  const insert = db.prepare(`INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain,
    actor_principal, target, resource, token_id, grant_id, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const batch = db.transaction((from, n) => {
    for (let i = from; i < from + n; i++) {
      const e = auditEvent(i);
      const entry = JSON.stringify({ i, ...e });
      insert.run(
        i,
        Date.now(),
        e.action,
        e.decision,
        e.actor.agent,
        "[]",
        e.actor.principal,
        e.target,
        e.resource,
        e.tokenId,
        e.grantId,
        entry,
      );
    }
  });
  const total = quick ? 50_000 : 200_000;
  const t0 = performance.now();
  for (let i = 0; i < total; i += DESIGN_ROWS) batch(start + i, DESIGN_ROWS);
  const rate = total / ((performance.now() - t0) / 1000);
  db.close();
  return rate;
}

// ---------------------------------------------------------------------------------------------
// 2. Issuance with the integrator on vs off.

/**
 * A Deputy server in a child process with `auditLedger` set (bench/server-child.js does not pass
 * that option through); prints `BENCH_READY` like it, exits on SIGTERM or when stdin closes.
 */
async function startDeputyChild(options) {
  const code = `
    const options = JSON.parse(process.argv[1]);
    const { startDeputy } = await import(${JSON.stringify(serverModule("serve.js"))});
    const running = await startDeputy({ port: 0, logLevel: "error", env: {}, ...options });
    const stop = async () => { try { await running.close(); } finally { process.exit(0); } };
    process.on("SIGTERM", stop);
    process.stdin.on("end", stop);
    process.stdin.resume();
    process.stdout.write("BENCH_READY " + JSON.stringify({ url: running.url }) + "\\n");`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, JSON.stringify(options)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = await new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`deputy child did not start:\n${stderr}`)), 120_000);
    child.stdout.on("data", (d) => {
      buffer += d;
      const m = /BENCH_READY (.+)\n/.exec(buffer);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1]).url);
      }
    });
    exited.then(() => reject(new Error(`deputy child exited:\n${stderr}`)));
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function issuanceOnOff({ quick, log }) {
  const agentCount = quick ? 50 : 500;
  const dirs = [];
  const children = [];
  try {
    const servers = {};
    for (const [name, auditLedger] of [
      ["on", true],
      ["off", false],
    ]) {
      const dataDir = mkdtempSync(join(tmpdir(), `deputy-bench-ledger-${name}-`));
      dirs.push(dataDir);
      const child = await startDeputyChild({ dataDir, adminToken: BENCH_ADMIN_TOKEN, auditLedger });
      children.push(child);
      const { agents } = await setupThroughApi(child.url, { agents: agentCount });
      await fetchTokens(
        child.url,
        presign(child.url, agents.length, (i) => agents[i]),
      );
      servers[name] = { child, agents };
    }
    log(`    ${agentCount} agents on each server; rounds alternate integrator on / off`);
    let rng = 7;
    const cfg = roundsConfig(quick);
    const runs = await interleave({
      ...cfg,
      log,
      subjects: Object.entries(servers).map(([name, s]) => ({
        name,
        url: s.child.url,
        path: "/oauth/token",
        prepare: (n) =>
          queue(
            presign(s.child.url, n, () => {
              rng = (rng * 1103515245 + 12345) % 2 ** 31;
              return s.agents[rng % s.agents.length];
            }),
          ),
      })),
    });
    const bad = failures(runs.on);
    return {
      figures: [
        figure({
          id: "ledger.issuance",
          label: "token issuance with the ledger integrator on (SQLite)",
          value: medianRate(runs.on),
          unit: "req/s",
          baseline: {
            label: "same with DEPUTY_AUDIT_LEDGER=false",
            value: medianRate(runs.off),
            unit: "req/s",
          },
          ratio: pairedRatio(runs.on, runs.off),
          target: { on: "ratio", op: ">=", value: 0.9 },
          ...(bad.non2xx || bad.errors
            ? { note: `${bad.non2xx} refused and ${bad.errors} failed requests (not counted in the rate)` }
            : {}),
        }),
      ],
      details: {
        agents: agentCount,
        connections: CONNECTIONS,
        ...cfg,
        rounds_detail: { on: summarize(runs.on), off: summarize(runs.off) },
      },
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 3. A large log: proofs and verification.

/** Canonical (RFC 8785) entry text, keys in code-point order, as `Audit.record` writes it. */
function entryText(i, at) {
  const agent = `agt_${String(i % 1000).padStart(26, "a")}`;
  return (
    `{"action":"token.issued","actor":{"agent":"${agent}","chain":[],"kind":"agent","principal":"prn_${String(i % 100).padStart(26, "p")}"},` +
    `"at":"${new Date(at).toISOString()}","decision":"allowed","details":{"dpop":true,"exp":1767225900,"grant_type":"client_credentials","scope":"read write"},` +
    `"grant_id":"grt_${String(i % 1000).padStart(26, "g")}","index":${i},"resource":"https://api.bench.test","target":"${agent}","token_id":"tok_${String(i).padStart(26, "0")}","v":1}`
  );
}

/** Writes `count` entries and their tree straight into a migrated SQLite database. */
async function populateLog(dataDir, count, log) {
  const { openStore } = await import(serverModule("store/open.js"));
  const { hashEntry, merkleHasher } = await import(serverModule("audit/hasher.js"));
  const { isStoredLevel } = await import(serverModule("audit/tree-nodes.js"));
  const { CompactRange } = await import(protocolModule("index.js"));
  const canonicalize = requireFromServer("canonicalize");
  const path = join(dataDir, "deputy.db");
  await (await openStore({ url: `sqlite:${path}` })).close();
  const Database = requireFromServer("better-sqlite3");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");
  const t0 = performance.now();
  const at0 = Date.now() - count;
  if (canonicalize(JSON.parse(entryText(7, at0))) !== entryText(7, at0))
    throw new Error("entryText is not canonical");
  const insertEntry = db.prepare(`INSERT INTO audit_log (idx, at, action, decision, actor_agent, actor_chain,
    actor_principal, target, resource, token_id, grant_id, entry) VALUES (?, ?, 'token.issued', 'allowed', ?, '[]', ?, ?, 'https://api.bench.test', ?, ?, ?)`);
  const insertNode = db.prepare("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)");
  const range = new CompactRange(merkleHasher);
  const chunk = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const at = at0 + i;
      const text = entryText(i, at);
      const e = JSON.parse(text);
      insertEntry.run(i, at, e.actor.agent, e.actor.principal, e.target, e.token_id, e.grant_id, text);
      // The nodes the integrator stores (levels 1–3 are folded from the leaves when read).
      for (const { node, hash: h } of range.append(hashEntry(text)))
        if (isStoredLevel(node.level)) insertNode.run(node.level, node.index, h);
    }
  });
  for (let i = 0; i < count; i += 50_000) chunk(i, Math.min(count, i + 50_000));
  db.prepare("UPDATE audit_tree_state SET size = ?, root = ?, updated_at = ? WHERE id = 1").run(
    count,
    Buffer.from(range.root()),
    Date.now(),
  );
  db.close();
  log(
    `    wrote ${count.toLocaleString("en-US")} entries and their tree in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

/** p50 latency (ms) of `n` sequential GETs over one keep-alive connection. */
async function sequentialP50(url, paths, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times = [];
  const get = (path) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      http
        .get(`${url}${path}`, { agent }, (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode}`));
            else resolve(performance.now() - t0);
          });
        })
        .on("error", reject);
    });
  for (let i = 0; i < 200; i++) await get(paths(i)); // warm-up
  for (let i = 0; i < n; i++) times.push(await get(paths(i)));
  agent.destroy();
  return median(times);
}

/** The floor for verification: node:crypto recomputing the root of the same entries in-process. */
async function rawRoot(count) {
  const at0 = 0;
  const texts = [];
  for (let i = 0; i < Math.min(count, 100_000); i++) texts.push(entryText(i, at0 + i));
  const t0 = performance.now();
  const stack = [];
  for (let i = 0; i < count; i++) {
    let h = hash("sha256", `\0${texts[i % texts.length]}`, "buffer");
    for (let s = i; s % 2 === 1; s = (s - 1) / 2)
      h = hash("sha256", Buffer.concat([Buffer.of(1), stack.pop(), h]), "buffer");
    stack.push(h);
  }
  let root = stack.pop();
  while (stack.length) root = hash("sha256", Buffer.concat([Buffer.of(1), stack.pop(), root]), "buffer");
  return (performance.now() - t0) / 1000;
}

async function largeLog({ quick, log }) {
  const count = quick ? 50_000 : LARGE;
  const dataDir = mkdtempSync(join(tmpdir(), "deputy-bench-ledger-large-"));
  const work = mkdtempSync(join(tmpdir(), "deputy-bench-ledger-verify-"));
  let child;
  try {
    await populateLog(dataDir, count, log);
    child = await startDeputyChild({ dataDir, adminToken: BENCH_ADMIN_TOKEN });
    const note = await (await fetch(`${child.url}/v1/audit/checkpoint`)).text();
    if (Number(note.split("\n")[1]) !== count) throw new Error(`checkpoint is not at ${count}:\n${note}`);
    let rng = 11;
    const samples = quick ? 1000 : 5000;
    const proofP50 = await sequentialP50(
      child.url,
      () => {
        rng = (rng * 1103515245 + 12345) % 2 ** 31;
        return `/v1/audit/proofs/inclusion?index=${rng % count}&size=${count}`;
      },
      samples,
    );
    const healthP50 = await sequentialP50(child.url, () => "/healthz", samples);
    log(`    inclusion proof p50 ${proofP50.toFixed(3)} ms, /healthz p50 ${healthP50.toFixed(3)} ms`);

    const t0 = performance.now();
    const verified = await new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [DEPUTY_BIN, "audit", "verify", "--json", "-q", "--witness-file", join(work, "witness.json")],
        {
          cwd: work,
          env: { PATH: process.env.PATH ?? "", DEPUTY_URL: child.url, DEPUTY_ADMIN_TOKEN: BENCH_ADMIN_TOKEN },
          maxBuffer: 1 << 20,
        },
        (err, stdout, stderr) =>
          err ? reject(new Error(`verify failed: ${stderr}`)) : resolve(JSON.parse(stdout)),
      );
    });
    const verifySeconds = (performance.now() - t0) / 1000;
    if (verified.size !== count) throw new Error(`verify checked ${verified.size} entries, not ${count}`);
    const rawSeconds = await rawRoot(count);
    log(
      `    deputy audit verify: ${verifySeconds.toFixed(1)} s; raw node:crypto root: ${rawSeconds.toFixed(2)} s`,
    );
    const n = count.toLocaleString("en-US");
    return {
      figures: [
        figure({
          id: "ledger.proof",
          label: `inclusion proof over HTTP at ${n} entries (p50, sequential)`,
          value: proofP50,
          unit: "ms",
          baseline: { label: "GET /healthz on the same server (p50)", value: healthP50, unit: "ms" },
          ratio: proofP50 / healthP50,
          target: { on: "value", op: "<=", value: 1, unit: "ms" },
        }),
        figure({
          id: "ledger.verify",
          label: `deputy audit verify of ${n} entries (fetch all, re-hash, compare leaves and signed root)`,
          value: verifySeconds,
          unit: "s",
          baseline: {
            label: "raw node:crypto recomputing that root in-process",
            value: rawSeconds,
            unit: "s",
          },
          ratio: verifySeconds / rawSeconds,
          ...(quick ? {} : { target: { on: "value", op: "<=", value: 15, unit: "s" } }),
        }),
      ],
      details: {
        entries: count,
        proof_p50_ms: proofP50,
        healthz_p50_ms: healthP50,
        verify_s: verifySeconds,
        raw_root_s: rawSeconds,
      },
    };
  } finally {
    await child?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
