/**
 * Servers under test run in child processes started here (bench/server-child.js). Only the
 * processes started here are ever signalled, by their own pid.
 *
 * @example
 * const bare = await startChild({ kind: "bare" });
 * console.log(bare.url, bare.memory());
 * await bare.stop();
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { SERVER_CHILD, serverModule } from "./paths.js";

// Deputy's server processes run with the flags `deputy serve` runs with (its bin's shebang line).
const { SERVER_NODE_FLAGS } = await import(serverModule("config/node-flags.js"));

const READY = "BENCH_READY ";

/** A free TCP port on 127.0.0.1 (for cluster mode, where every worker must know the port up front). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** VmRSS and VmHWM (peak RSS) of one process, in MB, from /proc. */
export function procMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rss_mb: kb("VmRSS") / 1024, hwm_mb: kb("VmHWM") / 1024 };
  } catch {
    return { rss_mb: Number.NaN, hwm_mb: Number.NaN };
  }
}

/** User + system CPU seconds consumed so far by one process, from /proc (clock ticks of 10 ms). */
export function procCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts a server child and resolves once it listens. The returned handle's `memory()` sums RSS
 * over all of the server's processes (the primary and its workers in cluster mode).
 */
export async function startChild(options, { timeoutMs = 120_000 } = {}) {
  const opts = { ...options };
  if (opts.kind === "deputy" && (opts.workers ?? 1) > 1 && !opts.port) opts.port = await freePort();
  // DEPUTY_BENCH_CPU_PROF=<dir> profiles every Deputy child (a .cpuprofile per process, on exit).
  const profileDir = process.env.DEPUTY_BENCH_CPU_PROF;
  const nodeArgs =
    opts.kind !== "deputy"
      ? []
      : [...SERVER_NODE_FLAGS, ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, SERVER_CHILD, JSON.stringify(opts)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  // Deputy runs with logLevel "error": anything it logs is a server error, shown as it happens
  // (the first 20 lines per server) so that a failed round can be traced to its cause.
  let echoed = 0;
  const echo = (line) => {
    if (opts.kind !== "deputy" || line.trim() === "" || line.startsWith(READY)) return;
    if (echoed++ < 20) process.stderr.write(`    [${opts.kind} ${child.pid}] ${line}\n`);
  };
  child.stderr.on("data", (d) => {
    for (const line of d.toString().split("\n")) echo(line);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const info = await new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`${opts.kind} server did not start in time`)), timeoutMs);
    child.stdout.on("data", (d) => {
      buffer += d.toString();
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        echo(line);
        if (line.startsWith(READY)) {
          clearTimeout(timer);
          resolve(JSON.parse(line.slice(READY.length)));
        }
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${opts.kind} server exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });
  return {
    kind: opts.kind,
    url: info.url,
    pid: child.pid,
    pids: info.pids,
    stderr: () => stderr,
    /** Summed over the server's processes, in MB. */
    memory() {
      let rss = 0;
      let hwm = 0;
      for (const pid of info.pids) {
        const m = procMemory(pid);
        rss += m.rss_mb;
        hwm += m.hwm_mb;
      }
      return { rss_mb: rss, hwm_mb: hwm };
    },
    /** CPU seconds used so far, summed over the server's processes. */
    cpuSeconds() {
      return info.pids.reduce((sum, pid) => sum + procCpuSeconds(pid), 0);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
