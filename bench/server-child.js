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
 *   both ways): the baseline for the broker gateway's throughput. With `verifyDpop`, it first
 *   verifies each request's DPoP proof signature (RFC 9449 §4.3 step 7, the key in the proof's
 *   header) and drops the Authorization and DPoP headers: the floor of any DPoP-checking proxy.
 * - `signatures`: the floor of any issuer of DPoP-bound tokens for `private_key_jwt` clients on
 *   this machine: a bare node:http server that verifies the client assertion's signature (RFC 7523,
 *   the key of its `sub` from `options.keysFile`) and the DPoP proof's (RFC 9449, the key in its
 *   header), both on the libuv pool as Deputy does, signs an access token, and answers it. Nothing
 *   else: no claim checks, no replay cache, no database, no audit.
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
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
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
  const forward = (req, res, headers) => {
    const up = http.request(
      { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
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
  };
  const refuse = (res) => {
    res.writeHead(401, { "content-length": 0 });
    res.end();
  };
  const keys = new KeyCache();
  const server = http.createServer((req, res) => {
    if (!options.verifyDpop) return forward(req, res, { ...req.headers, host: target.host });
    const { authorization: _a, dpop, ...rest } = req.headers;
    const jws = splitJws(dpop);
    if (!jws) return refuse(res);
    // The proof's own key (RFC 9449 §4.3): parsed once per distinct key, as any verifier would.
    const key = keys.get(jws.header.jwk);
    if (!key) return refuse(res);
    req.pause();
    verify(null, jws.signingInput, key, jws.signature, (err, ok) =>
      err || !ok ? refuse(res) : forward(req, res, { ...rest, host: target.host }),
    );
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

/** A compact JWS split into its parts, or null. */
function splitJws(token) {
  if (typeof token !== "string") return null;
  const [h, p, sig, extra] = token.split(".");
  if (!h || !p || !sig || extra !== undefined) return null;
  try {
    return {
      header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")),
      payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")),
      signingInput: Buffer.from(`${h}.${p}`),
      signature: Buffer.from(sig, "base64url"),
    };
  } catch {
    return null;
  }
}

/** Public KeyObjects by JWK, each parsed once. */
class KeyCache {
  #keys = new Map();
  get(jwk) {
    if (!jwk || typeof jwk.x !== "string") return null;
    let key = this.#keys.get(jwk.x);
    if (!key) {
      try {
        key = createPublicKey({ key: jwk, format: "jwk" });
      } catch {
        return null;
      }
      this.#keys.set(jwk.x, key);
    }
    return key;
  }
}

async function signatures() {
  const clients = new Map(
    Object.entries(JSON.parse(readFileSync(options.keysFile, "utf8"))).map(([id, jwk]) => [
      id,
      createPublicKey({ key: jwk, format: "jwk" }),
    ]),
  );
  const dpopKeys = new KeyCache();
  const { privateKey } = generateKeyPairSync("ed25519");
  const header = Buffer.from(JSON.stringify({ alg: "EdDSA", typ: "at+jwt", kid: "floor" })).toString(
    "base64url",
  );
  const refuse = (res) => {
    res.writeHead(400, { "content-length": 0 });
    res.end();
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      const assertion = splitJws(form.get("client_assertion"));
      const proof = splitJws(req.headers.dpop);
      const clientKey = assertion && clients.get(assertion.payload.sub);
      const proofKey = proof && dpopKeys.get(proof.header.jwk);
      if (!clientKey || !proofKey) return refuse(res);
      let pending = 2;
      let failed = false;
      const checked = (err, ok) => {
        if (err || !ok) failed = true;
        if (--pending > 0) return;
        if (failed) return refuse(res);
        const now = Math.floor(Date.now() / 1000);
        const payload = Buffer.from(
          JSON.stringify({
            iss: "floor",
            sub: assertion.payload.sub,
            aud: form.get("resource"),
            scope: form.get("scope"),
            iat: now,
            exp: now + 300,
            jti: randomUUID(),
            cnf: { jkt: proof.header.jwk.x },
          }),
        ).toString("base64url");
        sign(null, Buffer.from(`${header}.${payload}`), privateKey, (err, sig) => {
          if (err) return refuse(res);
          const body = JSON.stringify({
            access_token: `${header}.${payload}.${sig.toString("base64url")}`,
            token_type: "DPoP",
            expires_in: 300,
          });
          res.writeHead(200, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            "cache-control": "no-store",
          });
          res.end(body);
        });
      };
      verify(null, assertion.signingInput, clientKey, assertion.signature, checked);
      verify(null, proof.signingInput, proofKey, proof.signature, checked);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTerm(() => new Promise((resolve) => server.close(resolve)));
  ready({ url: `http://127.0.0.1:${server.address().port}` });
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

const kinds = { bare, deputy, oidc, upstream, proxy, signatures, sse };
const start = kinds[options.kind];
if (!start) {
  console.error(`unknown kind ${options.kind}`);
  process.exit(2);
}
start().catch((err) => {
  console.error(err);
  process.exit(1);
});
