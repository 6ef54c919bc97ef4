/**
 * Interleaved HTTP rounds: every subject (the server under test and its baselines) runs one round
 * in turn, repeated, so that noise from a shared machine falls on all of them alike. Ratios are
 * taken per round (subject ÷ baseline of the same round) and summarised by their median.
 *
 * @example
 * const runs = await interleave({ subjects, rounds: 5, seconds: 4 });
 * const ratio = pairedRatio(runs.deputy, runs.bare);
 */
import { CONNECTIONS, fire } from "./load.js";
import { median } from "./report.js";

/**
 * @param {object} o
 * @param {Array<{name: string, url: string, path: string, child?: object, prepare: (count: number) => (() => {headers: object, body: string})}>} o.subjects
 *   `prepare(count)` builds (outside the timed window) enough requests for `count` sends; with
 *   `child` (from startChild) the server's CPU use over the round is recorded too.
 */
export async function interleave({ subjects, rounds, seconds, warmupSeconds = 1, warmupCount = 3000, log }) {
  const estimate = {};
  const runs = Object.fromEntries(subjects.map((s) => [s.name, []]));
  for (const s of subjects) {
    const r = await fire({
      url: s.url,
      path: s.path,
      seconds: warmupSeconds,
      maxRequests: warmupCount,
      next: s.prepare(warmupCount + 3 * CONNECTIONS),
    });
    estimate[s.name] = Math.max(r.rate, 100);
    log?.(`    warm-up ${s.name}: ${Math.round(r.rate)} req/s${problems(r)}`);
  }
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const s = subjects[(k + round) % subjects.length];
      // Twice the best rate seen so far: the round normally ends on time, not on count.
      const count = Math.ceil(estimate[s.name] * seconds * 2);
      const next = s.prepare(count + 3 * CONNECTIONS);
      const cpu0 = s.child?.cpuSeconds();
      const r = await fire({ url: s.url, path: s.path, seconds, maxRequests: count, next });
      if (s.child) {
        const cpu = s.child.cpuSeconds() - cpu0;
        // Server CPU per request and its utilisation (1.0 = one core busy for the whole round).
        r.server_cpu = { util: cpu / r.seconds, ms_per_request: (cpu * 1000) / Math.max(1, r.ok + r.non2xx) };
      }
      estimate[s.name] = Math.max(estimate[s.name], r.rate);
      runs[s.name].push(r);
      log?.(
        `    round ${round + 1}/${rounds} ${s.name}: ${Math.round(r.rate)} req/s in ${r.seconds} s, ` +
          `p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms` +
          (r.server_cpu
            ? `, server CPU ${(r.server_cpu.util * 100).toFixed(0)}% (${r.server_cpu.ms_per_request.toFixed(2)} ms/req)`
            : "") +
          problems(r),
      );
    }
  }
  return runs;
}

function problems(r) {
  const bad = [];
  if (r.non2xx) bad.push(`${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}`);
  if (r.errors) bad.push(`${r.errors} errors`);
  if (r.timeouts) bad.push(`${r.timeouts} timeouts`);
  return bad.length ? ` [${bad.join(", ")}]` : "";
}

/** Median over rounds of subject ÷ baseline, pairing the rounds that ran side by side. */
export function pairedRatio(subject, baseline) {
  return median(subject.map((r, i) => r.rate / baseline[i].rate));
}

export function medianRate(runs) {
  return median(runs.map((r) => r.rate));
}

/** Totals of refused or failed requests over all rounds (they are excluded from every rate). */
export function failures(runs) {
  return runs.reduce(
    (acc, r) => ({
      non2xx: acc.non2xx + r.non2xx,
      errors: acc.errors + r.errors + r.timeouts,
      ok: acc.ok + r.ok,
    }),
    { non2xx: 0, errors: 0, ok: 0 },
  );
}

export function summarize(runs) {
  return runs.map((r) => ({
    rate: Math.round(r.rate),
    ok: r.ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    seconds: r.seconds,
    latency_ms: r.latency_ms,
    ...(r.server_cpu
      ? {
          server_cpu_util: Math.round(r.server_cpu.util * 100) / 100,
          server_cpu_ms_per_request: Math.round(r.server_cpu.ms_per_request * 1000) / 1000,
        }
      : {}),
  }));
}
