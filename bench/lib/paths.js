/**
 * Where the benchmarks find the code under test and write their results. The benchmarks import
 * the compiled server (`packages/server/dist`), so `npm run bench` builds first (`tsc -b`).
 *
 * @example
 * const { startDeputy } = await import(serverModule("serve.js"));
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BENCH_DIR = fileURLToPath(new URL("../", import.meta.url));
export const RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));
/** Populated databases kept between runs (gitignored with the rest of bench/results/). */
export const CACHE_DIR = fileURLToPath(new URL("../results/cache/", import.meta.url));
export const SERVER_CHILD = fileURLToPath(new URL("../server-child.js", import.meta.url));

/** File URL of a compiled server module, e.g. `serverModule("tokens/access-token.js")`. */
export function serverModule(path) {
  return new URL(`../../packages/server/dist/${path}`, import.meta.url).href;
}

/** File URL of a compiled protocol module. */
export function protocolModule(path) {
  return new URL(`../../packages/protocol/dist/${path}`, import.meta.url).href;
}

/**
 * Requires a dependency the way the server resolves it (better-sqlite3, pg), so the bench uses
 * the very same build without declaring it twice.
 */
export const requireFromServer = createRequire(
  new URL("../../packages/server/package.json", import.meta.url),
);
