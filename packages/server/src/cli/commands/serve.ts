/**
 * `deputy serve`: starts Deputy (SQLite in ./.deputy by default), prints where it listens and,
 * on first start, the one-time admin token. `--workers N` serves from N processes
 * (node:cluster). SIGINT/SIGTERM close it gracefully.
 *
 * @example
 * registerServe(program);
 */
import cluster from "node:cluster";
import { join } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { resolveConfig, SETTINGS } from "../../config/defaults.js";
import type { DeputyOptions } from "../../serve.js";
import { CliError } from "../errors.js";
import { note, print } from "../output.js";
import { withExample } from "./shared.js";

interface ServeOpts {
  port?: number;
  host?: string;
  dataDir?: string;
  databaseUrl?: string;
  issuer?: string;
  workers?: number;
}

function intIn(min: number, max: number, what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`expected ${what} from ${min} to ${max}.`);
    }
    return n;
  };
}

const help = (key: keyof typeof SETTINGS) => `${SETTINGS[key].doc} [env ${SETTINGS[key].env}]`;

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.href;
  } catch {
    return "(unparseable URL)";
  }
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function deputyOptions(opts: ServeOpts): DeputyOptions {
  const options: DeputyOptions = {};
  if (opts.port !== undefined) options.port = opts.port;
  if (opts.host !== undefined) options.host = opts.host;
  if (opts.dataDir !== undefined) options.dataDir = opts.dataDir;
  if (opts.databaseUrl !== undefined) options.databaseUrl = opts.databaseUrl;
  if (opts.issuer !== undefined) options.issuer = opts.issuer;
  return options;
}

function announce(url: string, options: DeputyOptions, workers: number, newAdminToken: string | null): void {
  const config = resolveConfig(options, process.env);
  const database = config.databaseUrl
    ? `PostgreSQL ${redactUrl(config.databaseUrl)}`
    : `SQLite ${join(config.dataDir, "deputy.db")}`;
  print(
    `Deputy is listening on ${url}${workers > 1 ? ` (${workers} worker processes)` : ""}`,
    `  database  ${database}`,
    `  data dir  ${join(config.dataDir)}`,
  );
  if (!LOOPBACK.has(config.host)) {
    note(
      `WARNING: listening on ${config.host} over plain HTTP. Put TLS in front and set --issuer to the https URL.`,
    );
  }
  if (newAdminToken) {
    print(
      "",
      "Admin token (shown once; also saved to",
      `${join(config.dataDir, "admin.token")} with mode 0600, where the CLI finds it):`,
      "",
      `  ${newAdminToken}`,
      "",
      "In another terminal in this directory, try: npx deputy principal create --type human --name Alice",
    );
  }
}

/** Closes on SIGINT/SIGTERM; a second signal exits at once. */
function closeOnSignals(close: () => Promise<void>, quiet: boolean): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    if (!quiet) note(`${signal}: stopping Deputy…`);
    close().then(
      () => process.exit(0),
      (e: unknown) => {
        note(`error while stopping: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

export function registerServe(program: Command): void {
  withExample(
    program
      .command("serve")
      .description("start the Deputy server (zero configuration: SQLite in ./.deputy, 127.0.0.1:4747)")
      .option("--port <port>", help("port"), intIn(0, 65535, "a port"))
      .option("--host <host>", help("host"))
      .option("--data-dir <dir>", help("dataDir"))
      .option("--database-url <url>", help("databaseUrl"))
      .option("--issuer <url>", help("issuer"))
      .option(
        "--workers <n>",
        "serve from n processes sharing the port and the database (node:cluster)",
        intIn(1, 64, "a count"),
      ),
    "deputy serve",
    "deputy serve --port 8080 --database-url postgres://deputy@db.internal/deputy --issuer https://deputy.example.com",
    "deputy serve --workers 2",
  ).action(async (opts: ServeOpts) => {
    const options = deputyOptions(opts);
    const workers = opts.workers ?? 1;
    // Signal handlers first: a SIGTERM that arrives while starting, or right after "listening"
    // is printed, still closes whatever has started (before, it killed the process outright).
    let close: () => Promise<void> = async () => undefined;
    closeOnSignals(() => close(), cluster.isWorker);
    // Loaded here, not at the top: every other command stays a light HTTP client.
    if (workers > 1 || cluster.isWorker) {
      const { serveCluster } = await import("../../cluster.js");
      const served = await serveCluster(options, workers, (event) => {
        if (event.type === "ready") announce(event.url, options, event.workers, event.newAdminToken);
        else if (event.restarting) note(`worker ${event.pid} exited (code ${event.code}); starting another`);
      });
      close = served.close;
      return;
    }
    const { startDeputy } = await import("../../serve.js");
    const running = await startDeputy(options).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EADDRINUSE") throw e;
      const { host, port } = resolveConfig(options, process.env);
      throw new CliError(
        "ERR_ADDRESS_IN_USE",
        `${host}:${port} is already in use`,
        "is another `deputy serve` running? Stop it, or pick another --port.",
      );
    });
    close = running.close;
    announce(running.url, options, 1, running.newAdminToken);
  });
}
