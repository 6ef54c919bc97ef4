/**
 * Assembling and starting Deputy: data dir, master key, store (migrated), issuer keys, built-in
 * resource, admin token, HTTP server. `deputy serve` and the tests both come through here.
 *
 * @example
 * const running = await startDeputy({ port: 0 });
 * console.log(running.url, running.adminToken);
 * await running.close();
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { AuditLedger } from "./audit/ledger.js";
import { Audit } from "./audit/record.js";
import { BrokerRuntime } from "./broker/runtime.js";
import { Vault } from "./broker/vault.js";
import { type Clock, systemClock } from "./clock.js";
import {
  ensureDataDir,
  loadOrCreateMasterKeyRing,
  readSecretFile,
  writeSecretFile,
} from "./config/data-dir.js";
import { type Config, resolveConfig } from "./config/defaults.js";
import { type Deputy, deputyUrls } from "./context.js";
import { hashSecret, newSecret } from "./crypto/secrets.js";
import { buildApp } from "./http/app.js";
import { ResourceCache } from "./identity/resource-cache.js";
import { ensureBuiltinResource } from "./identity/resources.js";
import { IssuerKeyring } from "./keys/issuer-keys.js";
import { rewrapMasterSealed } from "./keys/master-rewrap.js";
import { WindowRateLimiter } from "./provision/rate-limit.js";
import { sweepTemporaryAgents } from "./provision/sweeper.js";
import { RevocationFeed } from "./status/revocation-feed.js";
import { StatusLists } from "./status/status-list.js";
import type { Store } from "./store/index.js";
import { openStore } from "./store/open.js";
import { VerifiedTokenCache } from "./tokens/access-token.js";
import { RevocationIndex } from "./tokens/revocation-index.js";
import { StatusIndexAllocator } from "./tokens/status-indexes.js";

export const ADMIN_TOKEN_PREFIX = "dpa";

export interface DeputyOptions extends Partial<Config> {
  clock?: Clock;
  logger?: Logger;
  /** Use this store instead of opening one from the config (tests). */
  store?: Store;
  env?: Record<string, string | undefined>;
}

export interface CreatedDeputy {
  deputy: Deputy;
  app: FastifyInstance;
  /** Set only when this start created the admin token (print it once). */
  newAdminToken: string | null;
  /** The admin token in effect (from env, file or just created). */
  adminToken: string;
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.dpop",
        "*.access_token",
        "*.client_assertion",
        "*.client_secret",
        "*.token",
        "*.secret",
      ],
      censor: "[redacted]",
    },
  });
}

/** Builds the context and app without listening (tests use `app.inject`). */
export async function createDeputy(options: DeputyOptions = {}): Promise<CreatedDeputy> {
  const { clock = systemClock, logger, store: givenStore, env = process.env, ...overrides } = options;
  const config = resolveConfig(overrides, env);
  const log = logger ?? createLogger(config.logLevel);
  await ensureDataDir(config.dataDir);
  const masterKeys = await loadOrCreateMasterKeyRing(config.dataDir, config.masterKey);
  const store =
    givenStore ??
    (await openStore({
      ...(config.databaseUrl ? { url: config.databaseUrl } : {}),
      dataDir: config.dataDir,
      ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
      durability: config.durability === "full" ? "full" : "normal",
      checkpointThread: config.sqliteCheckpointThread === true,
      onCheckpointerError: (err) =>
        log.error({ err }, "the SQLite checkpoint thread failed: checkpoints run on the event loop again"),
    }));
  const keys = await IssuerKeyring.open(store, masterKeys, clock);
  await ensureBuiltinResource(store, config.issuer, clock.now());

  const ledger = await AuditLedger.open({ store, clock, log, masterKeys, issuer: config.issuer });

  const vault = await Vault.open(store, masterKeys, clock);
  const { adminToken, created } = await resolveAdminToken(config);
  const urls = deputyUrls(config.issuer);
  const revocations = new RevocationIndex();
  const statusLists = new StatusLists({
    store,
    keys,
    clock,
    issuer: config.issuer,
    base: urls.statusLists,
    ttl: config.statusListTtl,
  });
  const revocationFeed = new RevocationFeed(store, log, { pollMs: config.revocationPollInterval });
  // Every revocation, made here or by another process on this database, reaches the in-memory
  // index (local verification) and clears the status-list cache.
  revocationFeed.subscribe((event) => {
    statusLists.invalidate();
    revocations.add({
      principals: event.cascade.principals,
      agents: event.cascade.agents,
      grants: event.cascade.grants,
      tokens: event.cascade.tokens.map((t) => ({ id: t.id, expiresAt: t.exp * 1000 })),
    });
  });
  await revocationFeed.start();
  const deputy: Deputy = {
    config,
    store,
    clock,
    keys,
    audit: new Audit(store, clock, {
      limit: config.auditRefusalsPerWindow,
      windowMs: config.auditRefusalWindow * 1000,
    }),
    ledger,
    log,
    revocations,
    adminTokenHash: hashSecret(adminToken),
    dpopNonceKeys: masterKeys.derive("deputy:dpop-nonce:v1"),
    masterKeys,
    urls,
    statusIndexes: new StatusIndexAllocator(store),
    verifiedTokens: new VerifiedTokenCache(50_000),
    resources: new ResourceCache(store),
    provisioning: {
      powKeys: masterKeys.derive("deputy:pow-challenge:v1"),
      temporaryLimiter: new WindowRateLimiter(config.temporaryAgentsPerHour),
    },
    vault,
    broker: new BrokerRuntime(store, vault, clock, {
      rate: config.brokerRateLimit,
      burst: config.brokerRateBurst,
    }),
    revocationFeed,
    statusLists,
  };
  const app = await buildApp(deputy);
  // Replay caches only need a jti until the proof or assertion it guards has expired anyway.
  const sweeper = setInterval(() => {
    const now = clock.now();
    deputy.revocations.sweep(now);
    deputy.audit
      .flushRefusals()
      .catch((err: unknown) => log.warn({ err }, "auditing suppressed refusals failed"));
    store.nonces
      .purgeExpired(now)
      .catch((err: unknown) => log.warn({ err }, "purging expired nonces failed"));
    // Revocation events outlive every token they name (config: revocationEventRetention).
    store.revocationEvents
      .prune(now - config.revocationEventRetention * 1000)
      .catch((err: unknown) => log.warn({ err }, "pruning old revocation events failed"));
  }, 60_000);
  sweeper.unref();
  // Unclaimed temporary agents: batched, yielding between batches (provision/sweeper.ts).
  let sweeping = false;
  const temporarySweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepTemporaryAgents(deputy)
      .then((n) => {
        if (n > 0) log.info({ swept: n }, "swept expired temporary agents");
      })
      .catch((err: unknown) => log.warn({ err }, "sweeping temporary agents failed"))
      .finally(() => {
        sweeping = false;
      });
  }, config.sweepInterval * 1000);
  temporarySweeper.unref();
  if (config.auditLedger) {
    ledger.follow(deputy.audit);
    ledger.start();
  }
  log.info({ master_key: masterKeys.activeId, ring: masterKeys.ids() }, "master-key ring loaded");
  const rewrapping = config.masterKeyRewrapOnStart ? rewrapInBackground(deputy) : Promise.resolve();
  app.addHook("onClose", async () => {
    await rewrapping;
    clearInterval(sweeper);
    clearInterval(temporarySweeper);
    await deputy.audit
      .flushRefusals({ all: true })
      .catch((err: unknown) => log.warn({ err }, "auditing suppressed refusals failed"));
    await revocationFeed.stop();
    await ledger.stop();
    if (!givenStore) await store.close();
  });
  return { deputy, app, newAdminToken: created ? adminToken : null, adminToken };
}

/**
 * After a master-key rotation, re-seals in the background whatever the previous key sealed (the
 * same work as `POST /v1/master-key/rewrap`), logging progress; never fails the start.
 */
async function rewrapInBackground(d: Deputy): Promise<void> {
  // Let the start finish (and the server listen) first.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    const result = await rewrapMasterSealed(d.store, d.masterKeys, {
      onProgress: (done, of) => d.log.info({ done, of }, "master-key rewrap: re-sealed under the active key"),
    });
    const { remaining, references, unreadable } = result.status;
    if (result.rewrapped > 0) {
      await d.audit.record({
        action: "master_key.rewrapped",
        decision: "allowed",
        actor: { agent: null, chain: [], principal: null, kind: "system" },
        target: d.masterKeys.activeId,
        details: { rewrapped: result.rewrapped, remaining },
      });
      d.log.info({ rewrapped: result.rewrapped, remaining, references }, "master-key rewrap finished");
    }
    if (unreadable.length > 0) {
      d.log.error(
        { unreadable: unreadable.map((u) => ({ kind: u.kind, id: u.id, key_id: u.keyId })) },
        "master-key rewrap: these values were sealed by a master key that is not in the ring; put it back (docs/broker.md)",
      );
    }
  } catch (err) {
    d.log.warn({ err }, "master-key rewrap at start failed; run `deputy keys rewrap`");
  }
}

export interface RunningDeputy extends CreatedDeputy {
  url: string;
  close(): Promise<void>;
}

/** Starts listening. With `port: 0` the OS picks a port and the issuer follows it. */
export async function startDeputy(options: DeputyOptions = {}): Promise<RunningDeputy> {
  const config = resolveConfig(options, options.env ?? process.env);
  let issuer = options.issuer ?? (config.issuer === `http://127.0.0.1:${config.port}` ? "" : config.issuer);
  let port = config.port;
  if (port === 0 && !issuer) {
    // Reserve a port first so the issuer URL (in every token) names the port we listen on.
    port = await freePort(config.host);
  }
  if (!issuer) issuer = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  const created = await createDeputy({ ...options, port, issuer });
  await created.app.listen({ port, host: config.host });
  return { ...created, url: issuer, close: () => created.app.close() };
}

async function freePort(host: string): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function resolveAdminToken(config: Config): Promise<{ adminToken: string; created: boolean }> {
  if (config.adminToken) {
    if (config.adminToken.length < 32) throw new Error("DEPUTY_ADMIN_TOKEN must be at least 32 characters");
    return { adminToken: config.adminToken, created: false };
  }
  const path = join(config.dataDir, "admin.token");
  const existing = (await readSecretFile(path))?.trim();
  if (existing) return { adminToken: existing, created: false };
  const adminToken = newSecret(ADMIN_TOKEN_PREFIX);
  await writeSecretFile(path, `${adminToken}\n`);
  return { adminToken, created: true };
}

/** A short fingerprint of a secret, safe to print (for "which admin token is this"). */
export function fingerprint(secret: string): string {
  return createHash("sha256").update(secret).digest("hex").slice(0, 12);
}
