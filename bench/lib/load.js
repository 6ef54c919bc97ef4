/**
 * The load generator: autocannon in this process, keep-alive, no pipelining, a fixed number of
 * connections, every request built by `next()` (so pre-signed single-use requests can be fed one
 * by one, and baselines pay the same per-request cost in the generator). Each round stops by
 * itself after `seconds` or `maxRequests`, whichever comes first, with a hard stop as a backstop.
 *
 * @example
 * const r = await fire({ url, path: "/oauth/token", seconds: 3, maxRequests: 20_000, next });
 * console.log(r.rate, r.non2xx);
 */
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";

export const CONNECTIONS = 32;

export function fire({ url, path, seconds, maxRequests, next, connections = CONNECTIONS, method = "POST" }) {
  return new Promise((resolve, reject) => {
    let built = 0;
    // autocannon only notices the end of a round on its 1-second tick, so its own duration can
    // overstate a round that ran out of requests early: time the round by its last response.
    let ok = 0;
    let last = 0;
    const t0 = performance.now();
    const instance = autocannon(
      {
        url,
        connections,
        pipelining: 1,
        duration: seconds,
        maxOverallRequests: Math.max(maxRequests, connections),
        timeout: 10,
        requests: [
          {
            method,
            path,
            setupRequest: (req) => {
              built++;
              const r = next();
              return { ...req, method, path, headers: r.headers, body: r.body };
            },
          },
        ],
      },
      (err, result) => {
        clearTimeout(backstop);
        if (err) return reject(err);
        const elapsed = ((last || performance.now()) - t0) / 1000;
        resolve({
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes: result.statusCodeStats,
          seconds: Math.round(elapsed * 100) / 100,
          rate: ok / elapsed,
          latency_ms: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
          built,
        });
      },
    );
    instance.on("response", (_client, statusCode) => {
      last = performance.now();
      if (statusCode >= 200 && statusCode < 300) ok++;
    });
    const backstop = setTimeout(() => instance.stop(), (seconds + 15) * 1000);
  });
}

/** A round of a static request (baselines, the peer, introspection cycling a token list). */
export function cycle(items) {
  let i = 0;
  return () => items[i++ % items.length];
}

/**
 * A queue of pre-built single-use requests. When it runs dry it repeats the last one, which the
 * server must refuse as a replay: such a round shows up as non-2xx, never as a flattering figure.
 */
export function queue(items) {
  let i = 0;
  return () => items[Math.min(i++, items.length - 1)];
}
