/**
 * Every setting of `deputy serve`: its default, its environment variable and what it does. This
 * file is the one source for behaviour and for docs (`docs/configuration.md` is generated from it
 * by `npm run docs:config`).
 *
 * @example
 * const config = resolveConfig({ port: 4747 }, process.env);
 */
import { parseTrustProxy } from "./trust-proxy.js";

export interface Setting<T> {
  /** What it does, shown in docs and `deputy serve --help`. */
  doc: string;
  default: T;
  env: string;
}

export const SETTINGS = {
  port: { doc: "TCP port to listen on.", default: 4747, env: "DEPUTY_PORT" },
  host: {
    doc: "Interface to bind. The default keeps Deputy on loopback; set 0.0.0.0 only behind TLS.",
    default: "127.0.0.1",
    env: "DEPUTY_HOST",
  },
  trustProxy: {
    doc: "Reverse proxies whose `X-Forwarded-For` is believed: comma-separated IP addresses and CIDR ranges (IPv4 and IPv6), such as `10.0.0.0/8,2001:db8::1`. When the connection comes from a listed proxy, the client address (what the temporary-agent limit counts and audit entries record as `remote`) is the rightmost `X-Forwarded-For` entry that is not itself a listed proxy; from any other peer the header is ignored. Empty trusts nobody: the client address is the connection's own.",
    default: "",
    env: "DEPUTY_TRUST_PROXY",
  },
  dataDir: {
    doc: "Directory for the embedded database, master key and admin token.",
    default: "./.deputy",
    env: "DEPUTY_DATA_DIR",
  },
  databaseUrl: {
    doc: "`postgres://…` selects PostgreSQL; empty keeps the embedded SQLite database in the data dir.",
    default: "",
    env: "DEPUTY_DATABASE_URL",
  },
  databaseSchema: {
    doc: "PostgreSQL schema to use (created if missing); empty uses the connection's default.",
    default: "",
    env: "DEPUTY_DATABASE_SCHEMA",
  },
  issuer: {
    doc: "Public base URL of this server (the `iss` of every token); default http://127.0.0.1:<port>.",
    default: "",
    env: "DEPUTY_ISSUER",
  },
  adminToken: {
    doc: "Use this admin token instead of generating one on first start (at least 32 characters).",
    default: "",
    env: "DEPUTY_ADMIN_TOKEN",
  },
  masterKey: {
    doc:
      "Master-key ring: base64 32-byte keys, comma-separated, the first active (it seals; the others only open). " +
      "Default: read or create <data dir>/master.key (mode 0600, one key per line, the first active). " +
      "See docs/broker.md, master-key rotation.",
    default: "",
    env: "DEPUTY_MASTER_KEY",
  },
  masterKeyRewrapOnStart: {
    doc:
      "At start, re-seal in the background every value sealed with a key other than the active master key " +
      "(as `POST /v1/master-key/rewrap` does), logging progress.",
    default: true,
    env: "DEPUTY_MASTER_KEY_REWRAP_ON_START",
  },
  accessTokenTtl: {
    doc: "Default access-token lifetime in seconds (DESIGN §4: 5 minutes).",
    default: 300,
    env: "DEPUTY_ACCESS_TOKEN_TTL",
  },
  maxAccessTokenTtl: {
    doc: "Upper bound in seconds for the access-token lifetime setting (at most 3600, DESIGN §4).",
    default: 3600,
    env: "DEPUTY_MAX_ACCESS_TOKEN_TTL",
  },
  dpopMaxAge: {
    doc: "How old (seconds) a DPoP proof's `iat` may be (RFC 9449 §11.1).",
    default: 60,
    env: "DEPUTY_DPOP_MAX_AGE",
  },
  dpopNonce: {
    doc: "Require server-issued DPoP nonces (RFC 9449 §8 and §9) at the token endpoint and on /v1.",
    default: false,
    env: "DEPUTY_DPOP_NONCE",
  },
  clockSkew: {
    doc: "Leeway in seconds for `iat`/`nbf`/`exp` checks on client assertions.",
    default: 30,
    env: "DEPUTY_CLOCK_SKEW",
  },
  bodyLimit: {
    doc: "Largest request body accepted, in bytes; larger bodies get 413 ERR_BODY_TOO_LARGE.",
    default: 65536,
    env: "DEPUTY_BODY_LIMIT",
  },
  logLevel: {
    doc: "pino log level (fatal, error, warn, info, debug).",
    default: "info",
    env: "DEPUTY_LOG_LEVEL",
  },
  auditRefusalsPerWindow: {
    doc: "Refusals without an authenticated caller (unknown enrollment codes, bad proof-of-work challenges, rate-limited registrations, failed client authentication, missing or bad bearer tokens) audited one by one per client address and action in each `auditRefusalWindow`; the rest of the window's become one `audit.refusals_suppressed` entry with their count, so an unauthenticated flood cannot grow the audit log without bound. Authenticated decisions are always audited one by one.",
    default: 20,
    env: "DEPUTY_AUDIT_REFUSALS_PER_WINDOW",
  },
  auditRefusalWindow: {
    doc: "Seconds of one window of `auditRefusalsPerWindow`.",
    default: 60,
    env: "DEPUTY_AUDIT_REFUSAL_WINDOW",
  },
  auditLedger: {
    doc: "Run the audit ledger's integrator here (Merkle tree and signed checkpoints, ≤ 1 s behind the log). `false` only appends entries; another process on the same database must integrate, or checkpoints stop advancing (and queries by agent or token scan every entry appended since).",
    default: true,
    env: "DEPUTY_AUDIT_LEDGER",
  },
  revocationHeartbeat: {
    doc: "Seconds between `: ping` comments on `GET /v1/revocations/events`, so a verifier can tell a quiet stream from a stalled one.",
    default: 10,
    env: "DEPUTY_REVOCATION_HEARTBEAT",
  },
  revocationPollInterval: {
    doc: "Milliseconds between checks for revocations made by other processes on the same database: the only path on SQLite (`serve --workers`), a safety net at 10× this interval beside PostgreSQL LISTEN/NOTIFY.",
    default: 250,
    env: "DEPUTY_REVOCATION_POLL_INTERVAL",
  },
  revocationStreamBuffer: {
    doc: "Bytes a revocation-event subscriber may fall behind before it is disconnected (it then resumes with Last-Event-ID); bounds the memory a slow consumer can hold.",
    default: 1_048_576,
    env: "DEPUTY_REVOCATION_STREAM_BUFFER",
  },
  revocationEventRetention: {
    doc: "Seconds revocation events are kept for `GET /v1/revocations/events` before they are pruned (once a minute). At least `maxAccessTokenTtl` + `clockSkew`: an older event only names tokens that have expired and agents, grants and principals that can get no new token, so a verifier that resumes after the cut loses nothing.",
    default: 86_400,
    env: "DEPUTY_REVOCATION_EVENT_RETENTION",
  },
  statusListTtl: {
    doc: "`ttl` and `Cache-Control: max-age` (seconds) of `GET /v1/status/lists/{n}`; the token expires after twice this. Half the SDK verifier's 60 s staleness bound, so a verifier refreshes at least twice before it would fail closed.",
    default: 30,
    env: "DEPUTY_STATUS_LIST_TTL",
  },
  durability: {
    doc: "SQLite `synchronous`: `normal` survives kill -9 (WAL); `full` also survives power loss.",
    default: "normal",
    env: "DEPUTY_DURABILITY",
  },
  sqliteCheckpointThread: {
    doc: "SQLite: once the WAL passes 32 MB, checkpoint it from a worker thread (PASSIVE, every 250 ms; the thread ends after 1 s without writes). Otherwise the COMMIT that crosses 10,000 WAL pages copies them back on the event loop, holding every request for about a quarter of a second under heavy writes. Costs about 16 MB while the thread runs.",
    default: false,
    env: "DEPUTY_SQLITE_CHECKPOINT_THREAD",
  },
  temporaryAgentTtl: {
    doc: "Seconds an unclaimed temporary agent lives before the sweeper revokes and removes it.",
    default: 3600,
    env: "DEPUTY_TEMPORARY_AGENT_TTL",
  },
  powDifficulty: {
    doc: 'Leading zero bits a temporary agent\'s proof of work must reach: SHA-256(challenge + "." + nonce). 20 bits is about 10^6 hashes (well under a second in Node).',
    default: 20,
    env: "DEPUTY_POW_DIFFICULTY",
  },
  powChallengeTtl: {
    doc: "Seconds a proof-of-work challenge stays valid (each is single-use).",
    default: 120,
    env: "DEPUTY_POW_CHALLENGE_TTL",
  },
  temporaryAgentsPerHour: {
    doc: "Temporary agents one client address (an IPv6 address counts by its /64; behind a reverse proxy see `trustProxy`) may create per hour (0 disables temporary agents).",
    default: 20,
    env: "DEPUTY_TEMPORARY_AGENTS_PER_HOUR",
  },
  sandboxScopes: {
    doc: "Space-separated scopes a temporary agent is granted (its ceiling until claimed).",
    default: "sandbox",
    env: "DEPUTY_SANDBOX_SCOPES",
  },
  sandboxResources: {
    doc: "Space-separated registered resource audiences a temporary agent may use until claimed; empty grants none.",
    default: "",
    env: "DEPUTY_SANDBOX_RESOURCES",
  },
  sweepBatch: {
    doc: "Expired temporary agents the sweeper removes per transaction.",
    default: 200,
    env: "DEPUTY_SWEEP_BATCH",
  },
  sweepDutyCycle: {
    doc: "Largest share of the store's time the sweeper may take (it pauses between batches), so token issuance keeps its latency while a backlog is swept.",
    default: 0.25,
    env: "DEPUTY_SWEEP_DUTY_CYCLE",
  },
  sweepInterval: {
    doc: "Seconds between sweeps for expired, unclaimed temporary agents.",
    default: 30,
    env: "DEPUTY_SWEEP_INTERVAL",
  },
  brokerAllowHttpLoopback: {
    doc: "Development only: accept `http://` connection upstreams on loopback (127.0.0.1, ::1, localhost). Otherwise upstreams must be `https://`.",
    default: false,
    env: "DEPUTY_BROKER_ALLOW_HTTP_LOOPBACK",
  },
  brokerUpstreamTimeout: {
    doc: "Milliseconds the gateway waits for an upstream's response headers, or between body chunks, before answering 504 ERR_UPSTREAM_TIMEOUT.",
    default: 30000,
    env: "DEPUTY_BROKER_UPSTREAM_TIMEOUT",
  },
  brokerRateLimit: {
    doc: "Per-agent gateway rate: calls per second refilled into each agent's token bucket (0 turns rate limiting off).",
    default: 50,
    env: "DEPUTY_BROKER_RATE_LIMIT",
  },
  brokerRateBurst: {
    doc: "Per-agent gateway burst: the size of each agent's token bucket.",
    default: 100,
    env: "DEPUTY_BROKER_RATE_BURST",
  },
  brokerMaxHeaderBytes: {
    doc: "Largest total size of a /proxy request's headers, in bytes; larger answers 431 ERR_PROXY_HEADERS_TOO_LARGE.",
    default: 16384,
    env: "DEPUTY_BROKER_MAX_HEADER_BYTES",
  },
  brokerApprovalTtl: {
    doc: "Seconds a held call waits for a decision, and an approval stays usable after it (from when the call was held).",
    default: 900,
    env: "DEPUTY_BROKER_APPROVAL_TTL",
  },
  brokerApprovalBodyLimit: {
    doc: "Largest request body, in bytes, of a call that needs approval: such bodies are buffered to hash before anything is forwarded; larger answers 413.",
    default: 1048576,
    env: "DEPUTY_BROKER_APPROVAL_BODY_LIMIT",
  },
} as const satisfies Record<string, Setting<unknown>>;

type Widen<T> = T extends number ? number : T extends boolean ? boolean : T extends string ? string : T;
export type Config = { -readonly [K in keyof typeof SETTINGS]: Widen<(typeof SETTINGS)[K]["default"]> };

/** Merges explicit options over environment variables over defaults, coercing types. */
export function resolveConfig(
  options: Partial<Config>,
  env: Record<string, string | undefined> = process.env,
): Config {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Config, Setting<unknown>][]) {
    const explicit = options[key];
    const raw = env[setting.env];
    if (explicit !== undefined) out[key] = explicit;
    else if (raw !== undefined && raw !== "") out[key] = coerce(key, raw, setting.default);
    else out[key] = setting.default;
  }
  const config = out as Config;
  if (!config.issuer) config.issuer = `http://127.0.0.1:${config.port}`;
  config.issuer = config.issuer.replace(/\/+$/, "");
  if (config.maxAccessTokenTtl > 3600) throw new Error("maxAccessTokenTtl may be at most 3600 s (DESIGN §4)");
  if (!Number.isInteger(config.powDifficulty) || config.powDifficulty < 0 || config.powDifficulty > 32) {
    throw new Error("powDifficulty must be an integer 0..32");
  }
  parseTrustProxy(config.trustProxy); // throws, naming the malformed entry
  if (config.accessTokenTtl > config.maxAccessTokenTtl) {
    throw new Error("accessTokenTtl exceeds maxAccessTokenTtl");
  }
  if (config.revocationEventRetention < config.maxAccessTokenTtl + config.clockSkew) {
    throw new Error(
      "revocationEventRetention must be at least maxAccessTokenTtl + clockSkew, or a verifier resuming its event stream could miss a revocation of a live token",
    );
  }
  if (!Number.isInteger(config.auditRefusalsPerWindow) || config.auditRefusalsPerWindow < 1) {
    throw new Error("auditRefusalsPerWindow must be an integer of at least 1");
  }
  for (const key of [
    "auditRefusalWindow",
    "revocationHeartbeat",
    "revocationPollInterval",
    "revocationStreamBuffer",
    "statusListTtl",
  ] as const) {
    if (!(config[key] > 0)) throw new Error(`${key} must be greater than 0`);
  }
  return config;
}

function coerce(key: string, raw: string, def: unknown): unknown {
  if (typeof def === "number") {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new Error(`${key}: expected a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (typeof def === "boolean") return raw === "1" || raw.toLowerCase() === "true";
  return raw;
}
