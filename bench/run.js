#!/usr/bin/env node
/**
 * Deputy's benchmarks. Each figure is printed next to a baseline measured in the same run, as a
 * ratio, with its target (issue 2 "Performance") and whether it is met.
 *
 *   node bench/run.js                 every benchmark
 *   node bench/run.js issuance        one (or several) by name
 *   node bench/run.js --quick verify  shorter versions (the smoke test; skips the 1M-row scale run)
 *   node bench/run.js --markdown      the last results as the tables of docs/benchmarks.md
 *
 * Results: bench/results/<name>.json (gitignored). Servers under test run in child processes on
 * 127.0.0.1; every round stops by itself after a bounded time and request count.
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
import { markdown } from "./lib/markdown.js";
import { distFingerprint, figureLine, machine, printTable, source, writeResult } from "./lib/report.js";

const BENCHMARKS = [
  "verify",
  "issuance",
  "introspection",
  "revocation",
  "revocation-propagation",
  "sdk-verify",
  "scale",
  "cluster",
  "ledger",
  "provisioning",
  "broker",
];
const SKIPPED_IN_QUICK = new Set(["scale"]);
/** A benchmark that overruns this is stopped (its server children exit with this process). */
const WATCHDOG_MS = { scale: 60 * 60_000, default: 20 * 60_000 };

/** How this run was started, as someone would type it again. */
function commandLine() {
  const args = process.argv.slice(2).join(" ");
  const env = process.env.DEPUTY_BENCH_DATABASE_URL
    ? `DEPUTY_BENCH_DATABASE_URL=${process.env.DEPUTY_BENCH_DATABASE_URL} `
    : "";
  const run =
    process.env.npm_lifecycle_event === "bench"
      ? `npm run bench${args ? ` -- ${args}` : ""}`
      : `node bench/run.js${args ? ` ${args}` : ""}`;
  return `${env}${run}`;
}

const loadavg = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

function parseArgs(argv) {
  const names = [];
  let quick = false;
  let markdownOnly = false;
  for (const a of argv) {
    if (a === "--quick") quick = true;
    else if (a === "--markdown") markdownOnly = true;
    else if (a === "--help" || a === "-h") {
      console.log(`usage: node bench/run.js [--quick] [--markdown] [${BENCHMARKS.join("|")} ...]`);
      console.log("  --markdown  print the last results (bench/results/*.json) as docs/benchmarks.md tables");
      process.exit(0);
    } else if (BENCHMARKS.includes(a)) names.push(a);
    else {
      console.error(`unknown benchmark or option: ${a} (benchmarks: ${BENCHMARKS.join(", ")})`);
      process.exit(2);
    }
  }
  return { quick, markdownOnly, names: names.length ? names : BENCHMARKS };
}

async function main() {
  const { quick, markdownOnly, names } = parseArgs(process.argv.slice(2));
  if (markdownOnly) {
    console.log(markdown(names));
    return;
  }
  const env = machine();
  const src = source();
  const started = new Date();
  console.log(
    `Deputy benchmarks${quick ? " (--quick)" : ""}: ${started.toISOString()}, commit ${src.commit}` +
      `${src.dirty ? " + uncommitted changes" : ""}, ${env.nproc} cores (${env.cpu}), node ${env.node}, ` +
      `load ${env.loadavg_at_start.join(" ")}`,
  );
  const all = [];
  let failed = 0;
  for (const name of names) {
    if (quick && SKIPPED_IN_QUICK.has(name)) {
      console.log(`\n== ${name}: skipped in --quick (populates 1,000,000 agents)`);
      continue;
    }
    const mod = await import(`./benchmarks/${name}.js`);
    console.log(`\n== ${name}: ${mod.description}`);
    const watchdog = setTimeout(() => {
      console.error(`${name} overran its ${WATCHDOG_MS[name] ?? WATCHDOG_MS.default} ms budget; stopping`);
      process.exit(3);
    }, WATCHDOG_MS[name] ?? WATCHDOG_MS.default);
    const loadBefore = loadavg();
    const distBefore = distFingerprint();
    const t0 = performance.now();
    try {
      const result = await mod.run({ quick, log: (line) => console.log(line) });
      const seconds = Math.round((performance.now() - t0) / 100) / 10;
      const distChanged = distFingerprint() !== distBefore;
      if (distChanged) {
        console.log(
          `  WARNING: packages/*/dist was rebuilt while ${name} ran; its figures may mix two builds. Run it again.`,
        );
      }
      for (const f of result.figures) console.log(figureLine(f));
      for (const f of result.figures) if (f.note) console.log(`  note (${f.label}): ${f.note}`);
      // Quick and profiled runs (the smoke test, DEPUTY_BENCH_CPU_PROF) never overwrite the
      // figures of a plain full run.
      const suffix = `${quick ? ".quick" : ""}${process.env.DEPUTY_BENCH_CPU_PROF ? ".profiled" : ""}`;
      const path = writeResult(`${name}${suffix}`, {
        name,
        date: started.toISOString(),
        command: commandLine(),
        quick,
        source: { ...src, dist: distBefore, dist_changed_during_run: distChanged },
        machine: env,
        // 1/5/15-minute load averages around this benchmark: other work on the machine shows here.
        loadavg: { before: loadBefore, after: loadavg() },
        seconds,
        figures: result.figures,
        details: result.details,
      });
      console.log(`  (${seconds} s; results in ${path})`);
      all.push(...result.figures);
      if (result.figures.some((f) => f.error)) failed++;
    } catch (err) {
      failed++;
      console.error(`  ${name} FAILED: ${err?.stack ?? err}`);
    } finally {
      clearTimeout(watchdog);
    }
  }
  if (all.length) {
    console.log("\nSummary (each figure against its baseline from this same run):\n");
    printTable(all);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
