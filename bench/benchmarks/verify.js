/**
 * In-process verification of access tokens, against raw node:crypto Ed25519 verify/s on the very
 * same signing inputs, measured in interleaved rounds in this process.
 *
 * - cold: `verifyAccessToken` (parse, alg allow-list, key, signature, typ, iss/aud, lifetime,
 *   required claims) + `RevocationIndex.isRevoked`, one distinct token per call, no cache.
 * - warm: the same token seen before: `VerifiedTokenCache.verify` hit + `isRevoked`.
 *
 * The revocation index is not empty: it holds 10,000 revoked tokens, 1,000 agents, 1,000 grants
 * and 100 principals, so every check does its real lookups. Tokens carry actor chains of 0–2
 * parents and a `cnf.jkt`, like real DPoP-bound tokens.
 */
import { verify as cryptoVerify } from "node:crypto";
import { performance } from "node:perf_hooks";
import { BENCH_RESOURCE, seededKey, signJwt } from "../lib/agents.js";
import { protocolModule, serverModule } from "../lib/paths.js";
import { figure, median } from "../lib/report.js";

export const description = "in-process token verification (cold and warm) vs raw Ed25519 verify";

const ISSUER = "http://127.0.0.1:4747";

export async function run({ quick, log }) {
  const { verifyAccessToken, VerifiedTokenCache } = await import(serverModule("tokens/access-token.js"));
  const { RevocationIndex } = await import(serverModule("tokens/revocation-index.js"));
  const { accessTokenClaims } = await import(serverModule("tokens/mint.js"));
  const { newId } = await import(protocolModule("ids.js"));

  const count = quick ? 1_000 : 10_000;
  const rounds = quick ? 5 : 9;
  const warmMinMs = quick ? 50 : 250;

  const issuerKey = seededKey("issuer");
  const now = Math.floor(Date.now() / 1000);
  const tokens = [];
  for (let i = 0; i < count; i++) {
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
      exp: now + 300,
      jti: newId("tok"),
      grantId: newId("grt"),
      jkt: issuerKey.kid,
      statusIdx: i,
    });
    tokens.push(signJwt(issuerKey, { typ: "at+jwt", kid: issuerKey.kid }, claims));
  }
  // The baseline verifies exactly these bytes, already split: the cheapest possible check.
  const raw = tokens.map((t) => {
    const dot = t.lastIndexOf(".");
    return { input: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), "base64url") };
  });

  const revocations = new RevocationIndex();
  revocations.add({
    tokens: Array.from({ length: 10_000 }, () => ({ id: newId("tok"), expiresAt: Date.now() + 3_600_000 })),
    agents: Array.from({ length: 1_000 }, () => newId("agt")),
    grants: Array.from({ length: 1_000 }, () => newId("grt")),
    principals: Array.from({ length: 100 }, () => newId("prn")),
  });
  const ctx = {
    issuer: ISSUER,
    audience: BENCH_RESOURCE,
    now,
    resolveKey: (kid) => (kid === issuerKey.kid ? issuerKey.publicKey : undefined),
  };
  const cache = new VerifiedTokenCache(count);
  for (const t of tokens) cache.verify(t, ctx);

  // Raw and cold alternate chunk by chunk over the same tokens, so that a noisy neighbour or a
  // frequency change lands on both sides of the ratio alike; chunk order alternates too.
  const CHUNK = 200;
  function rawChunk(from, to) {
    let ok = 0;
    for (let i = from; i < to; i++)
      if (cryptoVerify(null, raw[i].input, issuerKey.publicKey, raw[i].sig)) ok++;
    if (ok !== to - from) throw new Error("raw verify failed on a valid token");
  }
  function coldChunk(from, to) {
    let ok = 0;
    for (let i = from; i < to; i++) {
      const claims = verifyAccessToken(tokens[i], ctx);
      if (!revocations.isRevoked(claims)) ok++;
    }
    if (ok !== to - from) throw new Error("cold verify refused a valid token");
  }
  function pairedPass() {
    let rawMs = 0;
    let coldMs = 0;
    for (let from = 0, k = 0; from < count; from += CHUNK, k++) {
      const to = Math.min(count, from + CHUNK);
      for (const side of k % 2 === 0 ? ["raw", "cold"] : ["cold", "raw"]) {
        const t0 = performance.now();
        if (side === "raw") rawChunk(from, to);
        else coldChunk(from, to);
        const ms = performance.now() - t0;
        if (side === "raw") rawMs += ms;
        else coldMs += ms;
      }
    }
    return { raw: (count / rawMs) * 1000, cold: (count / coldMs) * 1000 };
  }
  function warmPass() {
    let ok = 0;
    let n = 0;
    const t0 = performance.now();
    let ms = 0;
    do {
      for (const t of tokens) {
        const claims = cache.verify(t, ctx);
        if (!revocations.isRevoked(claims)) ok++;
      }
      n += count;
      ms = performance.now() - t0;
    } while (ms < warmMinMs);
    if (ok !== n) throw new Error("warm verify refused a valid token");
    return (n / ms) * 1000;
  }

  // One untimed pass each (JIT), then rounds.
  pairedPass();
  warmPass();
  const samples = { raw: [], cold: [], warm: [] };
  const ratios = { cold: [], warm: [] };
  for (let round = 0; round < rounds; round++) {
    const p = pairedPass();
    const warm = warmPass();
    samples.raw.push(p.raw);
    samples.cold.push(p.cold);
    samples.warm.push(warm);
    ratios.cold.push(p.cold / p.raw);
    ratios.warm.push(warm / p.raw);
    log(
      `    round ${round + 1}/${rounds}: raw ${Math.round(p.raw)}/s, cold ${Math.round(p.cold)}/s ` +
        `(${(p.cold / p.raw).toFixed(3)} ×), warm ${Math.round(warm)}/s`,
    );
  }
  const baseline = { label: "raw node:crypto Ed25519 verify", value: median(samples.raw), unit: "ops/s" };
  const figures = [
    figure({
      id: "verify.cold",
      label: "in-process verify, token not seen before (signature, claims, revocation)",
      value: median(samples.cold),
      unit: "ops/s",
      baseline,
      ratio: median(ratios.cold),
      target: { on: "ratio", op: ">=", value: 0.85 },
    }),
    figure({
      id: "verify.warm",
      label: "in-process re-verify of a token already seen (cache hit, claims, revocation)",
      value: median(samples.warm),
      unit: "ops/s",
      baseline,
      ratio: median(ratios.warm),
      target: { on: "ratio", op: ">=", value: 10 },
    }),
  ];
  return { figures, details: { tokens: count, rounds, samples, ratios } };
}
