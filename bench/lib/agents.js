/**
 * The agent side of the wire, written with node:crypto directly (as the wire tests do): seeded
 * Ed25519 keys, client assertions (RFC 7523), DPoP proofs (RFC 9449), pre-signed token requests,
 * and the admin API calls that set a server up.
 *
 * @example
 * const key = seededKey("agent-1");
 * const req = tokenRequest({ issuer, agentId, key, resource: "https://api.bench.test" });
 * // req = { headers: { "content-type": …, dpop: … }, body: "grant_type=client_credentials&…" }
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign } from "node:crypto";

export const BENCH_RESOURCE = "https://api.bench.test";
export const BENCH_ADMIN_TOKEN = "dpa_bench-admin-token-0123456789abcdefghijklmnopqrstuvwxyz";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** An Ed25519 key derived from a label (RFC 8032 private keys are 32 arbitrary bytes). */
export function seededKey(label) {
  const seed = createHash("sha256").update(`deputy-bench-key:${label}`).digest();
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const publicKey = createPublicKey(privateKey);
  const { x } = publicKey.export({ format: "jwk" });
  const publicJwk = { kty: "OKP", crv: "Ed25519", x };
  // RFC 7638 thumbprint: required members in lexicographic order.
  const kid = createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
  return { privateKey, publicKey, publicJwk, kid };
}

export function signJwt(key, header, payload) {
  const h = Buffer.from(JSON.stringify({ alg: "EdDSA", ...header })).toString("base64url");
  const p = Buffer.from(JSON.stringify(payload)).toString("base64url");
  const sig = sign(null, Buffer.from(`${h}.${p}`), key.privateKey).toString("base64url");
  return `${h}.${p}.${sig}`;
}

/**
 * A `client_credentials` request with a fresh assertion and DPoP proof (both single-use jtis,
 * `iat` now), ready to send as is.
 */
export function tokenRequest({ issuer, agentId, key, resource = BENCH_RESOURCE, scope = "read", now }) {
  const iat = now ?? Math.floor(Date.now() / 1000);
  const assertion = signJwt(
    key,
    { typ: "JWT", kid: key.kid },
    { iss: agentId, sub: agentId, aud: issuer, jti: randomUUID(), iat, exp: iat + 120 },
  );
  const proof = signJwt(
    key,
    { typ: "dpop+jwt", jwk: key.publicJwk },
    { jti: randomUUID(), htm: "POST", htu: `${issuer}/oauth/token`, iat },
  );
  return {
    headers: { "content-type": "application/x-www-form-urlencoded", dpop: proof },
    body:
      "grant_type=client_credentials" +
      `&client_assertion_type=${encodeURIComponent(ASSERTION_TYPE)}` +
      `&client_assertion=${assertion}` +
      `&scope=${encodeURIComponent(scope)}` +
      `&resource=${encodeURIComponent(resource)}`,
  };
}

/** JSON calls to the admin API; throws on any non-2xx answer. */
export function adminApi(url, adminToken = BENCH_ADMIN_TOKEN) {
  return async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i], i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Sets up a server through its admin API: one resource, `principals` principals, `agents`
 * agents (each with its own key) spread over them, one grant per agent. Returns the agents and
 * the resource's introspection credentials.
 */
export async function setupThroughApi(url, { agents, principals = Math.max(1, Math.ceil(agents / 10)) }) {
  const api = adminApi(url);
  const resource = await api("POST", "/v1/resources", { audience: BENCH_RESOURCE, name: "Bench API" });
  const prns = await mapLimit(Array.from({ length: principals }), 4, (_, i) =>
    api("POST", "/v1/principals", { type: "service", name: `bench-principal-${i}` }),
  );
  const expiresAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
  const created = await mapLimit(Array.from({ length: agents }), 4, async (_, i) => {
    const key = seededKey(`api-agent-${i}`);
    const agent = await api("POST", "/v1/agents", {
      principal: prns[i % principals].id,
      name: `bench-agent-${i}`,
      jwks: { keys: [key.publicJwk] },
    });
    await api("POST", "/v1/grants", {
      agent: agent.id,
      scopes: ["read", "write"],
      resources: [BENCH_RESOURCE],
      expires_at: expiresAt,
      max_delegation_depth: 1,
    });
    return { id: agent.id, key };
  });
  return { agents: created, resource: { id: resource.id, secret: resource.client_secret } };
}

/** Pre-signs `count` token requests, each for an agent picked by `pick(i)`. */
export function presign(issuer, count, pick) {
  const now = Math.floor(Date.now() / 1000);
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const a = pick(i);
    out[i] = tokenRequest({ issuer, agentId: a.id, key: a.key, now });
  }
  return out;
}

/** Gets one token per request over plain fetch (setup, not timed). */
export async function fetchTokens(issuer, requests, limit = 8) {
  return mapLimit(requests, limit, async (r) => {
    const res = await fetch(`${issuer}/oauth/token`, { method: "POST", headers: r.headers, body: r.body });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  });
}
