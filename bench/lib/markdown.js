/**
 * The results table of docs/benchmarks.md, rebuilt from bench/results/*.json (the last run of each
 * benchmark), so the document is updated by pasting, never by retyping numbers.
 *
 * @example
 * node bench/run.js --markdown
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RESULTS_DIR } from "./paths.js";
import { fmt, ratioText, targetText } from "./report.js";

export function markdown(names) {
  const lines = [];
  const runs = [];
  for (const name of names) {
    const path = join(RESULTS_DIR, `${name}.json`);
    if (existsSync(path)) runs.push(JSON.parse(readFileSync(path, "utf8")));
  }
  lines.push("| Benchmark | Run (UTC) | Command | Commit | Load avg before → after |");
  lines.push("|---|---|---|---|---|");
  for (const r of runs) {
    const commit = `${r.source?.commit ?? "?"}${r.source?.dirty ? " + uncommitted" : ""}${r.source?.dist_changed_during_run ? " (rebuilt during run)" : ""}`;
    const load = r.loadavg ? `${r.loadavg.before[0]} → ${r.loadavg.after[0]}` : "";
    lines.push(
      `| ${r.name} | ${r.date.slice(0, 16).replace("T", " ")} | \`${r.command}\` | ${commit} | ${load} |`,
    );
  }
  lines.push("");
  lines.push("| Figure | Measured | Baseline (same run) | Ratio | Target | Met |");
  lines.push("|---|---|---|---|---|---|");
  for (const r of runs) {
    for (const f of r.figures) {
      if (f.error) {
        lines.push(`| ${f.label} | error: ${f.error.replaceAll("|", "\\|")} | | | | **error** |`);
        continue;
      }
      const met = f.met === null ? "—" : f.met ? "yes" : "**no**";
      lines.push(
        `| ${f.label} | ${fmt(f.value, f.unit)} | ${f.baseline ? `${f.baseline.label}: ${fmt(f.baseline.value, f.baseline.unit)}` : ""} | ` +
          `${Number.isFinite(f.ratio) ? ratioText(f.ratio) : ""} | ${f.target ? targetText(f.target) : "—"} | ${met} |`,
      );
    }
  }
  const m = runs[0]?.machine;
  if (m) {
    lines.push("");
    lines.push(
      `Machine: ${m.nproc} cores (${m.cpu}), ${Math.round(m.memory_mb / 1024)} GB, ${m.platform}, node ${m.node}.`,
    );
  }
  return lines.join("\n");
}
