/**
 * A fake Deputy for SDK unit tests: seeded Ed25519 keys (node:crypto, independent of the SDK's
 * Web Crypto code), signed access tokens, DPoP proofs, status lists (ZLIB via node:zlib) and a
 * `fetch` that serves metadata, the JWKS and status lists, plus a controllable SSE stream.
 *
 * @example
 * const d = fakeIssuer();
 * const token = d.token({ jkt: d.agentKey.kid });
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomUUID, sign } from "node:crypto";
import { deflateSync } from "node:zlib";

export const ISSUER = "https://deputy.test";
export const AUDIENCE = "https://api.test";
export const T0 = Date.UTC(2026, 0, 1);

export interface SeededKey {
  privateKey: KeyObject;
  publicJwk: { kty: string; crv: string; x: string };
  kid: string;
}

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function seededKey(seed: string): SeededKey {
  const bytes = createHash("sha256").update(`sdk-test-${seed}`).digest();
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, bytes]),
    format: "der",
    type: "pkcs8",
  });
  const jwk = createPublicKey(privateKey).export({ format: "jwk" }) as {
    kty: string;
    crv: string;
    x: string;
  };
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  const kid = createHash("sha256")
    .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x }))
    .digest("base64url");
  return { privateKey, publicJwk, kid };
}

export function signJwt(
  key: SeededKey,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const h = Buffer.from(JSON.stringify({ alg: "EdDSA", ...header })).toString("base64url");
  const p = Buffer.from(JSON.stringify(payload)).toString("base64url");
  const sig = sign(null, Buffer.from(`${h}.${p}`), key.privateKey);
  return `${h}.${p}.${sig.toString("base64url")}`;
}

export function ath(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

export function dpopProof(
  key: SeededKey,
  o: { htm: string; htu: string; iat: number; token?: string; nonce?: string },
  overrides: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): string {
  return signJwt(
    key,
    { typ: "dpop+jwt", jwk: key.publicJwk, ...header },
    {
      jti: randomUUID(),
      htm: o.htm,
      htu: o.htu,
      iat: o.iat,
      ...(o.token !== undefined ? { ath: ath(o.token) } : {}),
      ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
      ...overrides,
    },
  );
}

/** A status list token body: 1-bit statuses, LSB first (draft-ietf-oauth-status-list §4.1). */
export function statusListLst(revoked: readonly number[], size = 1024): string {
  const bytes = new Uint8Array(size / 8);
  for (const i of revoked) bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (1 << (i & 7));
  return deflateSync(bytes).toString("base64url");
}

export interface FakeIssuer {
  clock: { now: number };
  issuerKey: SeededKey;
  agentKey: SeededKey;
  jwks: { keys: Array<Record<string, unknown>> };
  /** Status list n → revoked indexes. */
  revoked: Map<number, number[]>;
  /** Override the status list token served (by list number). */
  statusListOverride: Map<number, (uri: string) => string>;
  statusListFails: boolean;
  requests: string[];
  fetch: typeof fetch;
  token(claims?: Record<string, unknown>, header?: Record<string, unknown>, key?: SeededKey): string;
  statusListToken(n: number, overrides?: Record<string, unknown>, key?: SeededKey): string;
  /** Push SSE text to every open stream. */
  sse: {
    write(text: string): void;
    /** Send the caught-up comment as soon as a stream opens (Deputy sends it after the replay). */
    caughtUpOnOpen: boolean;
    /** SSE text every new stream replays first, before the caught-up comment. */
    replayOnOpen: string;
    close(): void;
    status: number;
    opened: number;
    lastEventIds: Array<string | null>;
    authorizations: Array<string | null>;
  };
}

export function fakeIssuer(): FakeIssuer {
  const issuerKey = seededKey("issuer");
  const agentKey = seededKey("agent");
  const nowS = () => Math.floor(d.clock.now / 1000);
  const listUri = (n: number) => `${ISSUER}/v1/status/lists/${n}`;
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const enc = new TextEncoder();
  const d: FakeIssuer = {
    clock: { now: T0 },
    issuerKey,
    agentKey,
    jwks: { keys: [{ ...issuerKey.publicJwk, kid: issuerKey.kid, alg: "EdDSA", use: "sig" }] },
    revoked: new Map(),
    statusListOverride: new Map(),
    statusListFails: false,
    requests: [],
    token(claims = {}, header = {}, key = issuerKey) {
      const iat = nowS();
      return signJwt(
        key,
        { typ: "at+jwt", kid: key.kid, ...header },
        {
          iss: ISSUER,
          sub: "prn_ada",
          aud: AUDIENCE,
          client_id: "agt_deployer",
          act: { sub: "agt_deployer" },
          scope: "read write",
          iat,
          exp: iat + 300,
          jti: `tok_${randomUUID()}`,
          grant_id: "grt_1",
          cnf: { jkt: agentKey.kid },
          status: { status_list: { idx: 3, uri: listUri(0) } },
          ...claims,
        },
      );
    },
    statusListToken(n, overrides = {}, key = issuerKey) {
      return signJwt(
        key,
        { typ: "statuslist+jwt", kid: key.kid },
        {
          iss: ISSUER,
          sub: listUri(n),
          iat: nowS(),
          exp: nowS() + 600,
          ttl: 30,
          status_list: { bits: 1, lst: statusListLst(d.revoked.get(n) ?? []) },
          ...overrides,
        },
      );
    },
    sse: {
      status: 200,
      caughtUpOnOpen: true,
      replayOnOpen: "",
      opened: 0,
      lastEventIds: [],
      authorizations: [],
      write(text) {
        for (const c of streams) c.enqueue(enc.encode(text));
      },
      close() {
        for (const c of streams) c.close();
        streams.clear();
      },
    },
    fetch: async (input, init) => {
      const url = String(input);
      d.requests.push(url);
      if (url === `${ISSUER}/.well-known/oauth-authorization-server`) {
        return Response.json({
          issuer: ISSUER,
          jwks_uri: `${ISSUER}/.well-known/jwks.json`,
          status_list_endpoint: `${ISSUER}/v1/status/lists`,
          revocation_events_endpoint: `${ISSUER}/v1/revocations/events`,
        });
      }
      if (url === `${ISSUER}/.well-known/jwks.json`) return Response.json(d.jwks);
      const m = /\/v1\/status\/lists\/(\d+)$/.exec(url);
      if (m) {
        if (d.statusListFails) return new Response("down", { status: 503 });
        const n = Number(m[1]);
        const body = d.statusListOverride.get(n)?.(url) ?? d.statusListToken(n);
        return new Response(body, { headers: { "content-type": "application/statuslist+jwt" } });
      }
      if (url === `${ISSUER}/v1/revocations/events`) {
        d.sse.opened++;
        d.sse.lastEventIds.push(new Headers(init?.headers).get("last-event-id"));
        d.sse.authorizations.push(new Headers(init?.headers).get("authorization"));
        if (d.sse.status !== 200) return new Response("no", { status: d.sse.status });
        let ctrl!: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            ctrl = c;
            streams.add(c);
            if (d.sse.replayOnOpen !== "") c.enqueue(enc.encode(d.sse.replayOnOpen));
            // As Deputy does once any replay is written: the stream is caught up from here.
            if (d.sse.caughtUpOnOpen) c.enqueue(enc.encode(": ping 0\n\n"));
          },
          cancel() {
            streams.delete(ctrl);
          },
        });
        init?.signal?.addEventListener("abort", () => {
          streams.delete(ctrl);
          try {
            ctrl.error(new Error("aborted"));
          } catch {
            // already closed
          }
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      }
      return new Response("not found", { status: 404 });
    },
  };
  return d;
}

/** An SSE revocation frame as the server sends it. */
export function revocationFrame(id: number, cascade: Record<string, unknown>, target = "agt_x"): string {
  const data = JSON.stringify({
    id,
    at: Math.floor(T0 / 1000),
    target,
    reason: null,
    cascade: { principals: [], agents: [], grants: [], tokens: [], ...cascade },
  });
  return `id: ${id}\nevent: revocation\ndata: ${data}\n\n`;
}
