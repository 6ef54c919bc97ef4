/**
 * The SDK verifier (`@deputy/sdk/verifier`: no Node imports; Web Crypto, or node:crypto where the
 * runtime offers it) against raw node:crypto
 * Ed25519 verify/s on the very same signing inputs, in interleaved chunks in this process.
 *
 * - cold: `verifier.verifyToken` on a token never seen before (parse, alg, typ, iss/aud, cached
 *   JWKS key, Web Crypto signature, lifetime, claims, revocation index + status-list bit), one
 *   at a time (each awaited) and, separately, 200 in flight at once as a busy server would.
 * - warm: the same tokens again (verified-token cache hit, lifetime, revocation).
 * - request: `verifier.verify` of a full DPoP request with a token seen before — the proof is
 *   new every request, so this always costs one signature (no target; for reference).
 * - memory: heap held by a verifier that knows 100,000 revoked token ids and 10,000 revoked
 *   agents (target ≤ 50 MB), measured after forced GCs.
 *
 * The revocation index holds 10,000 tokens, 1,000 agents, 1,000 grants and 100 principals while
 * timing, so every check does its real lookups.
 */

import { execFileSync } from "node:child_process";
import { createHash, verify as cryptoVerify, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { deflateSync } from "node:zlib";
import { BENCH_RESOURCE, seededKey, signJwt } from "../lib/agents.js";
import { protocolModule, serverModule } from "../lib/paths.js";
import { figure, median } from "../lib/report.js";

export const description =
  "SDK verifier (default backend, and Web Crypto forced): cold and warm verify vs raw Ed25519 verify; memory of revocations";

const ISSUER = "https://deputy.bench.test";
/**
 * The tokens are DPoP-bound; these figures are about the token alone (signature, claims,
 * revocation), so the proof is explicitly left to "elsewhere" (`verify` measures a full request).
 */
const TOKEN_ONLY = { dpop: "checked-elsewhere" };
const sdkModule = (p) => new URL(`../../packages/sdk/dist/${p}`, import.meta.url).href;

/**
 * Heap held by a verifier's revocation state: 100,000 token ids and 10,000 agents arriving as
 * JSON (as over the event stream: fresh strings), measured as heapUsed after forced GCs.
 */
const MEMORY_SCRIPT = `
const { createVerifier } = await import(process.env.SDK_VERIFIER);
const { newId } = await import(process.env.PROTOCOL_IDS);
const gcAll = () => { for (let i = 0; i < 4; i++) globalThis.gc(); };
const now = Math.floor(Date.now() / 1000);
gcAll();
const before = process.memoryUsage().heapUsed;
let json = JSON.stringify({
  tokens: Array.from({ length: 100000 }, () => ({ id: newId("tok"), exp: now + 3600 })),
  agents: Array.from({ length: 10000 }, () => newId("agt")),
});
const verifier = createVerifier({ issuer: "https://deputy.bench.test", audience: "https://api.bench.test" });
verifier.revocations.apply(JSON.parse(json));
// Only the verifier is left: the JSON it was fed (and what V8 may share with it) is freed first.
json = null;
gcAll();
const after = process.memoryUsage().heapUsed;
const size = verifier.revocations.size;
console.log(JSON.stringify({ bytes: after - before, tokens: size.tokens, ids: size.ids }));
`;

export async function run({ quick, log }) {
  const { createVerifier, defaultSignatureBackend, webCryptoBackend } = await import(
    sdkModule("verifier.js")
  );
  const { nodeCryptoBackend } = await import(sdkModule("node.js"));
  const { accessTokenClaims } = await import(serverModule("tokens/mint.js"));
  const { newId } = await import(protocolModule("ids.js"));

  const count = quick ? 1_000 : 10_000;
  const rounds = quick ? 3 : 7;
  const CHUNK = 200;
  const issuerKey = seededKey("sdk-issuer");
  const agentKey = seededKey("sdk-agent");
  const now = Math.floor(Date.now() / 1000);
  const listUri = `${ISSUER}/v1/status/lists/0`;
  const statusList = signJwt(
    issuerKey,
    { typ: "statuslist+jwt", kid: issuerKey.kid },
    {
      iss: ISSUER,
      sub: listUri,
      iat: now,
      exp: now + 3600,
      ttl: 3600,
      status_list: { bits: 1, lst: deflateSync(new Uint8Array(8192)).toString("base64url") },
    },
  );
  const fetch = async (url) => {
    const u = String(url);
    if (u.endsWith("/.well-known/oauth-authorization-server")) {
      return Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` });
    }
    if (u.endsWith("/jwks"))
      return Response.json({
        keys: [{ ...issuerKey.publicJwk, kid: issuerKey.kid, alg: "EdDSA", use: "sig" }],
      });
    if (u === listUri) return new Response(statusList);
    return new Response("", { status: 404 });
  };

  const mint = (i) => {
    const agent = newId("agt");
    const chain = i % 16 === 0 ? [newId("agt"), newId("agt")] : i % 4 === 0 ? [newId("agt")] : [];
    const claims = accessTokenClaims({
      issuer: ISSUER,
      statusListBase: `${ISSUER}/v1/status/lists`,
      principal: newId("prn"),
      audience: BENCH_RESOURCE,
      agent,
      chain,
      scopes: ["read", "write"],
      iat: now,
      exp: now + 3000,
      jti: newId("tok"),
      grantId: newId("grt"),
      jkt: agentKey.kid,
      statusIdx: i % 65_536,
    });
    return signJwt(issuerKey, { typ: "at+jwt", kid: issuerKey.kid }, claims);
  };
  // Fresh tokens for every cold pass (a cold verify must never hit the cache).
  const passes = rounds + 1;
  const sets = Array.from({ length: passes * 3 }, () => Array.from({ length: count }, (_, i) => mint(i)));
  const rawOf = (t) => {
    const dot = t.lastIndexOf(".");
    return { input: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), "base64url") };
  };

  // Web Crypto, forced: what the verifier uses on runtimes without node:crypto.
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: BENCH_RESOURCE,
    fetch,
    now: () => now * 1000,
    tokenCacheSize: count * passes * 3 + 10,
    signatureBackend: webCryptoBackend,
  });
  verifier.revocations.apply({
    tokens: Array.from({ length: 10_000 }, () => ({ id: newId("tok"), exp: now + 3600 })),
    agents: Array.from({ length: 1_000 }, () => newId("agt")),
    grants: Array.from({ length: 1_000 }, () => newId("grt")),
    principals: Array.from({ length: 100 }, () => newId("prn")),
  });
  await verifier.verifyToken(mint(0), TOKEN_ONLY); // JWKS and status list fetched and cached
  // The same verifier with its default backend: on this Node, node:crypto (the same backend as
  // `@deputy/sdk/node`'s nodeCryptoBackend), found through process.getBuiltinModule.
  if (defaultSignatureBackend.name !== "node:crypto" || nodeCryptoBackend.name !== "node:crypto") {
    throw new Error(
      `the verifier's default backend here is ${defaultSignatureBackend.name}, not node:crypto`,
    );
  }
  const nodeVerifier = createVerifier({
    issuer: ISSUER,
    audience: BENCH_RESOURCE,
    fetch,
    now: () => now * 1000,
    tokenCacheSize: count * passes + 10,
  });
  await nodeVerifier.verifyToken(mint(0), TOKEN_ONLY);

  function rawChunk(raw, from, to) {
    let ok = 0;
    for (let i = from; i < to; i++)
      if (cryptoVerify(null, raw[i].input, issuerKey.publicKey, raw[i].sig)) ok++;
    if (ok !== to - from) throw new Error("raw verify failed on a valid token");
  }
  async function serialChunk(tokens, from, to) {
    for (let i = from; i < to; i++) await verifier.verifyToken(tokens[i], TOKEN_ONLY);
  }
  async function serialNodeChunk(tokens, from, to) {
    for (let i = from; i < to; i++) await nodeVerifier.verifyToken(tokens[i], TOKEN_ONLY);
  }
  async function concurrentChunk(tokens, from, to) {
    await Promise.all(tokens.slice(from, to).map((t) => verifier.verifyToken(t, TOKEN_ONLY)));
  }
  async function pairedPass(tokens, cold) {
    const raw = tokens.map(rawOf);
    let rawMs = 0;
    let coldMs = 0;
    for (let from = 0, k = 0; from < count; from += CHUNK, k++) {
      const to = Math.min(count, from + CHUNK);
      for (const side of k % 2 === 0 ? ["raw", "cold"] : ["cold", "raw"]) {
        const t0 = performance.now();
        if (side === "raw") rawChunk(raw, from, to);
        else await cold(tokens, from, to);
        const ms = performance.now() - t0;
        if (side === "raw") rawMs += ms;
        else coldMs += ms;
      }
    }
    return { raw: (count / rawMs) * 1000, cold: (count / coldMs) * 1000 };
  }
  async function warmPass(tokens) {
    const t0 = performance.now();
    let n = 0;
    do {
      for (const t of tokens) await verifier.verifyToken(t, TOKEN_ONLY);
      n += tokens.length;
    } while (performance.now() - t0 < (quick ? 50 : 250));
    return (n / (performance.now() - t0)) * 1000;
  }
  // Full DPoP requests with tokens seen before: one fresh proof per request.
  const reqUrl = `${BENCH_RESOURCE}/tickets`;
  const proofs = (tokens) =>
    tokens.map((token) => ({
      method: "GET",
      url: reqUrl,
      headers: {
        authorization: `DPoP ${token}`,
        dpop: signJwt(
          agentKey,
          { typ: "dpop+jwt", jwk: agentKey.publicJwk },
          {
            jti: randomUUID(),
            htm: "GET",
            htu: reqUrl,
            iat: now,
            ath: createHash("sha256").update(token).digest("base64url"),
          },
        ),
      },
    }));

  const samples = {
    raw: [],
    serial: [],
    rawC: [],
    concurrent: [],
    rawN: [],
    node: [],
    warm: [],
    request: [],
  };
  const ratios = { serial: [], concurrent: [], node: [], warm: [], request: [] };
  for (let pass = 0; pass < passes; pass++) {
    const a = sets[pass * 3];
    const b = sets[pass * 3 + 1];
    const s = await pairedPass(a, serialChunk);
    const c = await pairedPass(b, concurrentChunk);
    const n = await pairedPass(sets[pass * 3 + 2], serialNodeChunk);
    const warm = await warmPass(a);
    const reqs = proofs(a);
    const rawA = a.map(rawOf);
    const t0 = performance.now();
    for (const r of reqs) await verifier.verify(r);
    const reqRate = (count / (performance.now() - t0)) * 1000;
    const t1 = performance.now();
    rawChunk(rawA, 0, count);
    const rawRate = (count / (performance.now() - t1)) * 1000;
    if (pass === 0) continue; // JIT warm-up
    samples.raw.push(s.raw);
    samples.serial.push(s.cold);
    samples.rawC.push(c.raw);
    samples.concurrent.push(c.cold);
    samples.rawN.push(n.raw);
    samples.node.push(n.cold);
    ratios.node.push(n.cold / n.raw);
    samples.warm.push(warm);
    samples.request.push(reqRate);
    ratios.serial.push(s.cold / s.raw);
    ratios.concurrent.push(c.cold / c.raw);
    ratios.warm.push(warm / s.raw);
    ratios.request.push(reqRate / rawRate);
    log(
      `    round ${pass}/${rounds}: raw ${Math.round(s.raw)}/s, cold serial ${Math.round(s.cold)}/s ` +
        `(${(s.cold / s.raw).toFixed(3)} ×), cold concurrent ${Math.round(c.cold)}/s (${(c.cold / c.raw).toFixed(3)} ×), ` +
        `node:crypto backend ${Math.round(n.cold)}/s (${(n.cold / n.raw).toFixed(3)} ×), warm ${Math.round(warm)}/s (${(warm / s.raw).toFixed(1)} ×), DPoP request ${Math.round(reqRate)}/s`,
    );
  }
  await verifier.close();
  await nodeVerifier.close();
  sets.length = 0;

  // Memory, in a fresh process with --expose-gc so nothing measured above is still on the heap.
  const mem = JSON.parse(
    execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", MEMORY_SCRIPT], {
      env: { ...process.env, SDK_VERIFIER: sdkModule("verifier.js"), PROTOCOL_IDS: protocolModule("ids.js") },
      encoding: "utf8",
    }),
  );
  const memoryMb = mem.bytes / (1024 * 1024);
  log(`    memory: ${mem.tokens} token ids + ${mem.ids} agents: ${memoryMb.toFixed(1)} MB of heap`);

  const baseline = { label: "raw node:crypto Ed25519 verify", value: median(samples.raw), unit: "ops/s" };
  const figures = [
    figure({
      id: "sdk.verify.cold",
      label: "SDK verifier on Web Crypto (forced), token not seen before, one at a time",
      value: median(samples.serial),
      unit: "ops/s",
      baseline,
      ratio: median(ratios.serial),
      target: { on: "ratio", op: ">=", value: 0.85 },
    }),
    figure({
      id: "sdk.verify.cold_concurrent",
      label: "SDK verifier on Web Crypto (forced), token not seen before, 200 in flight",
      value: median(samples.concurrent),
      unit: "ops/s",
      baseline: { ...baseline, value: median(samples.rawC) },
      ratio: median(ratios.concurrent),
      target: { on: "ratio", op: ">=", value: 0.85 },
    }),
    figure({
      id: "sdk.verify.cold_node_backend",
      label:
        "SDK verifier with its default backend on Node (node:crypto), token not seen before, one at a time",
      value: median(samples.node),
      unit: "ops/s",
      baseline: { ...baseline, value: median(samples.rawN) },
      ratio: median(ratios.node),
      target: { on: "ratio", op: ">=", value: 0.85 },
    }),
    figure({
      id: "sdk.verify.warm",
      label: "SDK verifier, token seen before (cache hit, lifetime, revocation)",
      value: median(samples.warm),
      unit: "ops/s",
      baseline,
      ratio: median(ratios.warm),
      target: { on: "ratio", op: ">=", value: 10 },
    }),
    figure({
      id: "sdk.verify.dpop_request",
      label: "SDK verifier, full DPoP request (token seen before, fresh proof: one signature)",
      value: median(samples.request),
      unit: "ops/s",
      baseline,
      ratio: median(ratios.request),
      note: "every request carries a new proof, so this always includes one Ed25519 verify (RFC 9449 §4.3)",
    }),
    figure({
      id: "sdk.verify.memory",
      label: "SDK verifier heap with 100,000 revoked token ids + 10,000 revoked agents",
      value: memoryMb,
      unit: "MB",
      target: { on: "value", op: "<=", value: 50, unit: "MB" },
    }),
  ];
  return { figures, details: { tokens: count, rounds, samples, ratios, memory: mem } };
}
