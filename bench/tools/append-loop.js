/**
 * A diagnostic, not a benchmark: the ledger benchmark's append loop alone (256 appenders awaiting
 * `Audit.record`, the integrator running in the same process), printing appends/s with the CPU
 * each entry cost PostgreSQL (every `postgres` process, from /proc) and this process, the batch
 * sizes and the event loop's delay. Two builds are compared by running it against each in turn
 * (interleaved pairs: the machine is shared).
 *
 *   node bench/tools/append-loop.js [seconds]                       # PostgreSQL at DEPUTY_BENCH_DATABASE_URL
 *   DEPUTY_APPEND_LOOP_SQLITE=1 node bench/tools/append-loop.js     # SQLite in a temporary directory
 *   DEPUTY_APPEND_LOOP_NO_LEDGER=1 …                                # appends only, no integrator
 *   DEPUTY_APPEND_LOOP_CHECKPOINTER=1 …                             # SQLite: the WAL checkpoint thread on
 *
 * Prints one JSON line: rate, pg_us_per_entry, node_us_per_entry, batches, entries_per_batch,
 * event_loop_delay_ms {mean, p99, max}.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { appendLoad, auditEvent, openAuditTarget } from "../lib/audit-load.js";
import { requireFromServer } from "../lib/paths.js";

const seconds = Number(process.argv[2] ?? 6);
const sqlite = process.env.DEPUTY_APPEND_LOOP_SQLITE === "1";
const url = process.env.DEPUTY_BENCH_DATABASE_URL;
if (!sqlite && !url) {
  console.error("set DEPUTY_BENCH_DATABASE_URL=postgres://… (or DEPUTY_APPEND_LOOP_SQLITE=1)");
  process.exit(2);
}

/** CPU time of every process named `postgres`, in µs (utime + stime at 100 ticks/s). */
function postgresCpuMicros() {
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (!stat.includes("(postgres)")) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10_000;
}

const schema = `append_loop_${randomBytes(6).toString("hex")}`;
const dir = mkdtempSync(join(tmpdir(), "deputy-append-loop-"));
const { store, audit, ledger } = await openAuditTarget(
  sqlite
    ? {
        url: `sqlite:${join(dir, "deputy.db")}`,
        checkpointThread: process.env.DEPUTY_APPEND_LOOP_CHECKPOINTER === "1",
      }
    : { url, schema },
);
if (process.env.DEPUTY_APPEND_LOOP_NO_LEDGER !== "1") {
  ledger.follow(audit);
  ledger.start();
}
// Batch sizes, counted where the store is called.
let batches = 0;
let batched = 0;
const appendMany = store.audit.appendMany.bind(store.audit);
store.audit.appendMany = (items) => {
  batches++;
  batched += items.length;
  return appendMany(items);
};
const transaction = store.transaction.bind(store);
store.transaction = (fn) =>
  transaction((tx) => {
    const inner = tx.audit.appendMany.bind(tx.audit);
    tx.audit.appendMany = (items) => {
      batches++;
      batched += items.length;
      return inner(items);
    };
    return fn(tx);
  });

for (let i = 0; i < 2000; i++) await audit.record(auditEvent(i)); // warm-up, one at a time
batches = 0;
batched = 0;

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const cpu0 = process.cpuUsage();
const pg0 = sqlite ? 0 : postgresCpuMicros();
const t0 = performance.now();
const appended = await appendLoad(audit, { seconds, first: 2000 });
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const pg = sqlite ? 0 : postgresCpuMicros() - pg0;
delay.disable();
await ledger.stop();
const ms = (ns) => Math.round(ns / 1e4) / 100;
console.log(
  JSON.stringify({
    store: sqlite ? "sqlite" : "postgres",
    rate: Math.round(appended / elapsed),
    pg_us_per_entry: sqlite ? null : Math.round((pg / appended) * 10) / 10,
    node_us_per_entry: Math.round(((cpu.user + cpu.system) / appended) * 10) / 10,
    batches,
    entries_per_batch: Math.round((batched / Math.max(1, batches)) * 10) / 10,
    event_loop_delay_ms: { mean: ms(delay.mean), p99: ms(delay.percentile(99)), max: ms(delay.max) },
  }),
);
await store.close();
if (!sqlite) {
  const { Client } = requireFromServer("pg");
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}
rmSync(dir, { recursive: true, force: true });
