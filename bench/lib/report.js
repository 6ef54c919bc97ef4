/**
 * Figures, ratios, targets and the printed table. Every figure is printed next to the baseline
 * it was measured against in the same run, as a ratio, with its target and whether it is met.
 *
 * @example
 * const fig = figure({ id: "issuance", label: "token issuance", value: 1800, unit: "req/s",
 *   baseline: { label: "bare node:http", value: 9000, unit: "req/s" }, ratio: 0.2,
 *   target: { on: "ratio", op: ">=", value: 0.2 } });
 * printFigure(fig);
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { REPO_ROOT, RESULTS_DIR } from "./paths.js";

export function median(values) {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return Number.NaN;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

export function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    memory_mb: Math.round(os.totalmem() / 2 ** 20),
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** The commit under test, and whether tracked files differ from it (others may be editing). */
export function source() {
  const git = (...args) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();
  try {
    return {
      commit: git("rev-parse", "--short", "HEAD"),
      dirty: git("status", "--porcelain", "--untracked-files=no") !== "",
    };
  } catch {
    return { commit: "unknown", dirty: null };
  }
}

/**
 * A fingerprint of the compiled code under test (packages/{protocol,sdk,server}/dist: paths, sizes, mtimes). Other
 * engineers rebuild while a run is going; a change between two benchmarks is reported, because
 * server children started after it run the new build.
 */
export function distFingerprint() {
  const hash = createHash("sha256");
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".js")) {
        const st = statSync(path);
        hash.update(`${path}\0${st.size}\0${st.mtimeMs}\n`);
      }
    }
  };
  for (const pkg of ["protocol", "sdk", "server"]) walk(join(REPO_ROOT, "packages", pkg, "dist"));
  return hash.digest("hex").slice(0, 12);
}

/**
 * A figure. `target.on` says whether the target applies to the ratio or to the value itself;
 * `met` is computed here, never by the benchmark.
 */
export function figure(f) {
  const out = { ...f };
  if (f.error) {
    out.met = false;
  } else if (f.target) {
    const x = f.target.on === "ratio" ? f.ratio : f.value;
    out.met = Number.isFinite(x) ? (f.target.op === ">=" ? x >= f.target.value : x <= f.target.value) : false;
  } else {
    out.met = null;
  }
  return out;
}

export function fmt(value, unit = "") {
  if (!Number.isFinite(value)) return "n/a";
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${text} ${unit}` : text;
}

export function targetText(t) {
  if (!t) return "(no target)";
  const op = t.op === ">=" ? "≥" : "≤";
  return t.on === "ratio" ? `${op} ${t.value} ×` : `${op} ${fmt(t.value, t.unit ?? "")}`;
}

/** Three decimals below 10, so a ratio printed next to its target never rounds onto it. */
export function ratioText(ratio) {
  return `${ratio.toFixed(ratio >= 10 ? 1 : 3)} ×`;
}

function verdict(f) {
  if (f.error) return "ERROR";
  if (f.met === null) return "info";
  return f.met ? "MET" : "MISSED";
}

/** One line per figure: value, baseline, ratio, target, verdict (the smoke test looks for it). */
export function figureLine(f) {
  if (f.error) return `  ${f.label}: ERROR: ${f.error}`;
  const parts = [`${f.label}: ${fmt(f.value, f.unit)}`];
  if (f.baseline) parts.push(`baseline ${f.baseline.label}: ${fmt(f.baseline.value, f.baseline.unit)}`);
  if (Number.isFinite(f.ratio)) parts.push(`ratio ${ratioText(f.ratio)}`);
  parts.push(`target ${targetText(f.target)}`);
  parts.push(verdict(f));
  return `  ${parts.join(" | ")}`;
}

export function printFigure(f) {
  console.log(figureLine(f));
  if (f.note) console.log(`      ${f.note}`);
}

/** The closing table over every figure of the run. */
export function printTable(figures) {
  const rows = figures.map((f) => [
    f.label,
    fmt(f.value, f.unit),
    f.baseline ? `${f.baseline.label}: ${fmt(f.baseline.value, f.baseline.unit)}` : "",
    Number.isFinite(f.ratio) ? ratioText(f.ratio) : "",
    targetText(f.target),
    verdict(f),
  ]);
  const head = ["figure", "value", "baseline (same run)", "ratio", "target", "verdict"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}

export function writeResult(name, result) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}
