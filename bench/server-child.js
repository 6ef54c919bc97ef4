/**
 * The server under test, in its own process so that the load generator never shares its event
 * loop. Started by lib/children.js with one JSON argument; prints one line
 * `BENCH_READY {"url":…,"pids":[…]}` once it listens on 127.0.0.1, and exits on SIGTERM.
 *
 * Kinds:
 * - `bare`: a bare node:http server that reads the request body and answers a small JSON body
 *   (the baseline for every HTTP figure).
 * - `deputy`: Deputy itself (`startDeputy`), or `workers` > 1 processes with `serveCluster`.
 * - `upstream`: the bare server, plus `GET /big?mb=N` streaming N MiB (the broker's upstream).
 * - `proxy`: a bare node:http reverse proxy to `options.upstream` (keep-alive agent, bodies piped
 *   both ways): the baseline for the broker gateway's throughput.
 * - `sse`: a bare node:http Server-Sent Events broadcaster: `GET /events` subscribes, `POST /revoke`
 *   writes its body as one event to every subscriber and then answers (the baseline for revocation
 *   propagation).
 * - `oidc`: the peer, panva's oidc-provider, issuing JWT access tokens for `client_credentials`
 *   with `client_secret_basic`.
 *
 * @example
 * node bench/server-child.js '{"kind":"bare"}'
 */
import cluster from "node:cluster";
import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import { serverModule } from "./lib/paths.js";

const options = JSON.parse(process.argv[2] ?? "{}");

function ready(info) {
  process.stdout.write(`BENCH_READY ${JSON.stringify({ pids: [process.pid], ...info })}\n`);
}

function onTerm(close) {
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // The parent died: do not linger.
  process.stdin.on("end", stop);
  process.stdin.resume();
}

async function bare() {
  const body = Buffer.from(JSON.stringify({ ok: true, active: true, token_type: "DPoP", expires_in: 300 }));
  const server = http.createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      res.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "content-length": body.length,
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTerm(() => new Promise((resolve) => server.close(resolve)));
  ready({ url: `http://127.0.0.1:${server.address().port}` });
}

async function upstream() {
  const body = Buffer.from(JSON.stringify({ ok: true, active: true, token_type: "DPoP", expires_in: 300 }));
  const chunk = Buffer.alloc(65536, 97);
  const server = http.createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname.endsWith("/big")) {
        const mb = Number(url.searchParams.get("mb") ?? "1");
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": mb * 1048576 });
        let left = mb * 16;
        const pump = () => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        return pump();
      }
      res.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "content-length": body.length,
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTerm(() => new Promise((resolve) => server.close(resolve)));
  ready({ url: `http://127.0.0.1:${server.address().port}` });
}

async function proxy() {
  const target = new URL(options.upstream);
  const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
  const server = http.createServer((req, res) => {
    const up = http.request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
        agent,
      },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTerm(() => new Promise((resolve) => server.close(resolve)));
  ready({ url: `http://127.0.0.1:${server.address().port}` });
}

async function deputy() {
  const deputyOptions = {
    port: options.port ?? 0,
    dataDir: options.dataDir,
    adminToken: options.adminToken,
    logLevel: options.logLevel ?? "error",
    env: {},
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.databaseSchema ? { databaseSchema: options.databaseSchema } : {}),
    ...(options.accessTokenTtl ? { accessTokenTtl: options.accessTokenTtl } : {}),
    ...(options.sweepInterval ? { sweepInterval: options.sweepInterval } : {}),
    // The broker benchmark's upstream is plain http on loopback; its load is one agent.
    ...(options.broker ? { brokerAllowHttpLoopback: true, brokerRateLimit: 0 } : {}),
    // Replicas behind one load balancer share the issuer URL (revocation-propagation).
    ...(options.issuer ? { issuer: options.issuer } : {}),
    // Any other setting (config/defaults.ts), e.g. { sqliteCheckpointThread: true } for an A/B.
    ...(options.config ?? {}),
  };
  const workers = options.workers ?? 1;
  if (workers > 1) {
    const { serveCluster } = await import(serverModule("cluster.js"));
    const running = await serveCluster(deputyOptions, workers, (event) => {
      if (event.type === "ready") {
        const pids = [process.pid, ...Object.values(cluster.workers ?? {}).map((w) => w.process.pid)];
        ready({ url: event.url, pids });
      }
    });
    if (cluster.isPrimary) onTerm(() => running.close());
    return;
  }
  const { startDeputy } = await import(serverModule("serve.js"));
  const running = await startDeputy(deputyOptions);
  onTerm(() => running.close());
  if (options.sweepDoneFile) {
    // The provisioning benchmark starts the server's own temporary-agent sweeper on demand
    // (SIGUSR2), in this process, and learns when it finished from the file it writes.
    const { sweepTemporaryAgents } = await import(serverModule("provision/sweeper.js"));
    const { writeFileSync } = await import("node:fs");
    process.on("SIGUSR2", () => {
      const t0 = performance.now();
      sweepTemporaryAgents(running.deputy).then(
        (agents) =>
          writeFileSync(options.sweepDoneFile, JSON.stringify({ agents, ms: performance.now() - t0 })),
        (err) => writeFileSync(options.sweepDoneFile, JSON.stringify({ error: String(err?.stack ?? err) })),
      );
    });
  }
  ready({ url: running.url });
}

async function oidc() {
  const { default: Provider } = await import("oidc-provider");
  const { privateKey } = generateKeyPairSync("ed25519");
  const server = http.createServer();
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(url, {
    jwks: { keys: [{ ...privateKey.export({ format: "jwk" }), kid: "bench", alg: "EdDSA", use: "sig" }] },
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "EdDSA",
      },
    ],
    scopes: ["read", "write"],
    ttl: { ClientCredentials: 300 },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => options.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "read write",
          accessTokenFormat: "jwt",
          accessTokenTTL: 300,
          jwt: { sign: { alg: "EdDSA" } },
        }),
      },
    },
  });
  server.on("request", provider.callback());
  onTerm(() => new Promise((resolve) => server.close(resolve)));
  ready({ url });
}

async function sse() {
  const subscribers = new Set();
  const server = http.createServer((req, res) => {
    if (req.method === "GET") {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "close",
      });
      res.write("retry: 1000\n\n");
      subscribers.add(res);
      res.once("close", () => subscribers.delete(res));
      return;
    }
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      let id = 0;
      try {
        id = JSON.parse(body).id;
      } catch {}
      const frame = `id: ${id}\nevent: revocation\ndata: ${body}\n\n`;
      for (const s of subscribers) s.write(frame);
      res.writeHead(200, { "content-type": "application/json", "content-length": 2 });
      res.end("{}");
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTerm(
    () =>
      new Promise((resolve) => {
        for (const s of subscribers) s.end();
        server.close(resolve);
      }),
  );
  ready({ url: `http://127.0.0.1:${server.address().port}` });
}

const kinds = { bare, deputy, oidc, upstream, proxy, sse };
const start = kinds[options.kind];
if (!start) {
  console.error(`unknown kind ${options.kind}`);
  process.exit(2);
}
start().catch((err) => {
  console.error(err);
  process.exit(1);
});
