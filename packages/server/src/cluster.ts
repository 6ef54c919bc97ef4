/**
 * Running `deputy serve` on every core: the primary prepares the shared state once (migrations,
 * issuer key, built-in resource, admin token), then forks workers that each open the database and
 * share one listening socket (Node's cluster distributes connections round-robin on Linux).
 *
 * Nothing that decides a request lives only in one worker's memory: replay caches, revocations
 * and grants are in the database; DPoP nonces are stateless HMACs; a key rotation made by one
 * worker reaches the others on their next key reload (≤ 10 s for signing, immediately for an
 * unknown `kid`). SQLite in WAL mode serialises writers across processes; a worker waits for the
 * write lock without blocking its event loop (DeputySqliteDialect);
 * PostgreSQL is the path past one machine.
 *
 * @example
 * await serveCluster({ port: 4747 }, 2, (event) => console.log(event));
 */
import cluster from "node:cluster";
import { join } from "node:path";
import { createDeputy, type DeputyOptions, startDeputy } from "./serve.js";

export type ClusterEvent =
  | {
      type: "ready";
      url: string;
      workers: number;
      newAdminToken: string | null;
      adminTokenPath: string | null;
    }
  | { type: "worker-exit"; pid: number; code: number | null; restarting: boolean };

const ENV_OPTIONS = "DEPUTY_CLUSTER_OPTIONS";

/**
 * In the primary: prepares state, forks `workers` processes and resolves once all listen. In a
 * worker (same entry point, re-executed by cluster.fork): starts the server and never resolves
 * with an event.
 */
export async function serveCluster(
  options: Omit<DeputyOptions, "store" | "clock" | "logger">,
  workers: number,
  onEvent: (e: ClusterEvent) => void,
): Promise<{ close(): Promise<void> }> {
  if (cluster.isWorker) {
    const inherited = JSON.parse(process.env[ENV_OPTIONS] ?? "{}") as DeputyOptions;
    const running = await startDeputy(inherited);
    process.send?.({ type: "listening" });
    return { close: () => running.close() };
  }
  const port = options.port ?? 4747;
  const host = options.host ?? "127.0.0.1";
  const issuer = options.issuer ?? `http://${host}:${port}`;
  const prepared = await createDeputy({ ...options, port, issuer });
  await prepared.app.close();
  const workerOptions = { ...options, port, issuer, adminToken: prepared.adminToken };

  let stopping = false;
  const fork = () => cluster.fork({ [ENV_OPTIONS]: JSON.stringify(workerOptions) });
  const listening = new Promise<void>((resolve) => {
    let ready = 0;
    cluster.on("message", (_worker, message: { type?: string }) => {
      if (message?.type === "listening" && ++ready === workers) resolve();
    });
  });
  cluster.on("exit", (worker, code) => {
    const restarting = !stopping;
    onEvent({ type: "worker-exit", pid: worker.process.pid ?? 0, code, restarting });
    if (restarting) setTimeout(fork, 1000).unref();
  });
  for (let i = 0; i < workers; i++) fork();
  await listening;
  onEvent({
    type: "ready",
    url: issuer,
    workers,
    newAdminToken: prepared.newAdminToken,
    adminTokenPath: prepared.deputy.config.adminToken
      ? null
      : join(prepared.deputy.config.dataDir, "admin.token"),
  });
  return {
    close: async () => {
      stopping = true;
      await Promise.all(
        Object.values(cluster.workers ?? {}).map(
          (w) =>
            new Promise<void>((resolve) => {
              if (!w) return resolve();
              w.once("exit", () => resolve());
              w.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
