/**
 * The resource-server verifier: offline verification of Deputy access tokens (RFC 9068 + RFC
 * 8725) with DPoP (RFC 9449), revocations from the event stream with the status list as the
 * fallback, and a fail-closed bound on how stale that knowledge may get.
 *
 * Revocation, per token:
 * 1. the in-memory index (everything the stream and earlier status lists told us) refuses it;
 * 2. if the stream is live and the token was issued after the stream started covering us, that
 *    is the whole answer;
 * 3. otherwise the token's status list decides (fetched and verified, cached for its `ttl`);
 * 4. if neither the stream nor a status list is fresher than `maxStalenessMs`, refuse with
 *    `ERR_REVOCATION_STATE_STALE` — fail closed.
 *
 * @example
 * const verifier = createVerifier({ issuer: "http://127.0.0.1:4747", audience: "https://api.example.com", resourceId, resourceSecret });
 * const who = await verifier.verify({ method: "GET", url: "https://api.example.com/tickets", headers: req.headers });
 * who.agent; who.principal; who.chain; who.scope;
 */
import { type AccessTokenClaims, checkLifetime, verifyAccessToken } from "./access-token.js";
import { type DpopNonceSource, rotatingNonces, verifyDpopProof } from "./dpop.js";
import { refuse, VerificationError } from "./errors.js";
import { EventStreamError, type RevocationEvent, RevocationStream } from "./event-stream.js";
import { IssuerKeys, type IssuerKeys as IssuerKeysT } from "./issuer-keys.js";
import type { SignatureBackend } from "./jws.js";
import { ReplayCache } from "./replay-cache.js";
import { RevocationIndex } from "./revocation-index.js";
import { fetchStatusList, type StatusList, StatusListError, statusAt } from "./status-list.js";
import { VerifiedTokenCache } from "./token-cache.js";

/** Headers as `fetch`, node:http, Express, Fastify or Hono hand them over. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

/** What {@link Verifier.verify} needs from a request. */
export interface RequestLike {
  method: string;
  /** The absolute URL the client addressed (scheme, host, path): DPoP's `htu` is checked against it. */
  url: string;
  headers: HeadersLike;
}

/** The DPoP proof a token came with, and the request it must name (RFC 9449 §4.3). */
export interface DpopRequest {
  /** The `DPoP` header's value. */
  proof: string;
  /** The request method (`htm`). */
  method: string;
  /** The absolute URL the client addressed (`htu`). */
  url: string;
}

/** What {@link Verifier.verifyToken} needs besides the token. */
export interface VerifyTokenOptions {
  /**
   * For a DPoP-bound token (`cnf.jkt`): the proof and request it came with, checked here; or
   * `"checked-elsewhere"` when the caller verifies the proof itself against the returned `jkt`
   * (a deliberate opt-out: skipping the proof turns a bound token into a bearer token).
   * Without it, a bound token is refused with `ERR_DPOP_PROOF_REQUIRED`. Ignored for a token
   * that is not bound, except that a proof given for one is refused (`ERR_TOKEN_CLAIMS`).
   */
  dpop?: DpopRequest | "checked-elsewhere";
}

/** Who is calling, once verified. */
export interface VerifiedCaller {
  /** The principal on whose behalf the agent acts (`sub`). */
  principal: string;
  /** The acting agent (`client_id`, the outermost `act.sub`). */
  agent: string;
  /** The agents it acts through: parent first, then grandparent… (RFC 8693 §4.1 nested `act`). */
  chain: string[];
  /** Granted scopes. */
  scope: string[];
  tokenId: string;
  grantId: string;
  /** The RFC 7638 thumbprint of the key the token is bound to, when DPoP-bound. */
  jkt: string | undefined;
  claims: AccessTokenClaims;
}

export interface VerifierOptions {
  /** Deputy's issuer URL, exactly as in `iss`. */
  issuer: string;
  /** This resource's audience, exactly as registered (`aud`). */
  audience: string;
  /** The resource's `res_` id and secret: with both, the verifier subscribes to the revocation events. */
  resourceId?: string;
  resourceSecret?: string;
  /** Accept `Authorization: Bearer` for tokens that are not DPoP-bound. Default false. */
  allowBearer?: boolean;
  /** Clock skew tolerated on `exp`, `iat`, `nbf`. Default 5 s. */
  leewaySec?: number;
  dpop?: {
    /** Oldest acceptable proof, seconds. Default 60. */
    maxAgeSec?: number;
    /** Newest acceptable proof `iat` ahead of us, seconds. Default 5. */
    futureSkewSec?: number;
    /** Require a server nonce (RFC 9449 §9): true for an in-process rotating nonce, or a shared source. */
    nonce?: boolean | DpopNonceSource;
    /** Entries of the `jti` replay cache. Default 100 000. */
    replayCacheSize?: number;
  };
  revocation?: {
    /** Fail closed when both the stream and the status list are older than this. Default 60 000 ms. */
    maxStalenessMs?: number;
    /** Subscribe to the event stream (needs resourceId and resourceSecret). Default true. */
    events?: boolean;
    /** Use status lists. Default true. */
    statusList?: boolean;
    /** Drop a stream that sent nothing for this long. Default 30 000 ms. */
    heartbeatTimeoutMs?: number;
    initialBackoffMs?: number;
    maxBackoffMs?: number;
    /** Tokens issued this close to the stream's start are also checked against the status list. Default 5 000 ms. */
    coverageMarginMs?: number;
    /**
     * Largest revocation event accepted, in characters of its `data` (one more per line). A bigger
     * one drops the connection as garbage (reconnect with backoff; the status list answers
     * meanwhile). Default 16 MiB (`DEFAULT_REVOCATION_EVENT_LENGTH`: a cascade of some
     * 350,000 tokens).
     */
    maxEventLength?: number;
  };
  jwks?: {
    /** Refetch the key set this often. Default 300 000 ms. */
    refreshIntervalMs?: number;
    /**
     * Cooldown between fetches that verifications trigger (unknown `kid`, due refresh, retry during
     * an outage), from the last attempt's start or end; one fetch in flight at a time. Default 5 000 ms.
     */
    minRefetchIntervalMs?: number;
    /** Skip discovery and use this JWKS URL. */
    jwksUri?: string;
  };
  /**
   * Where signatures are checked. Default: the runtime's `node:crypto` where it offers it without an
   * import (Node ≥ 20.16, Bun, Deno), else Web Crypto; pass `webCryptoBackend` to force Web Crypto.
   */
  signatureBackend?: SignatureBackend;
  /** Verified tokens kept for the warm path. Default 10 000. */
  tokenCacheSize?: number;
  fetch?: typeof fetch;
  /** Epoch ms. */
  now?: () => number;
  /** Background problems: the event stream, status lists, the JWKS. Never thrown at the host. */
  onError?: (error: Error & { code?: string }) => void;
  /** Each revocation event applied. */
  onRevocation?: (event: RevocationEvent) => void;
}

/** Where this verifier's revocation knowledge comes from, for health checks. */
export interface RevocationHealth {
  streamConnected: boolean;
  /**
   * Epoch ms of the last whole frame while the stream was live (after the replay of its
   * connection): what the stream's freshness is measured from. A connection that replays, or
   * fails, does not move it.
   */
  streamLastFrameAt: number;
  lastEventId: number;
  revokedTokens: number;
  revokedIds: number;
  statusLists: number;
}

const DEFAULT_MAX_STALENESS_MS = 60_000;

/**
 * An RFC 7617 Basic credential with RFC 6749 §2.3.1 form-encoding of id and secret.
 *
 * @example
 * basicAuth("res_123", "s3cret"); // "Basic cmVzXzEyMzpzM2NyZXQ="
 */
export function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  const bytes = new TextEncoder().encode(`${enc(id)}:${enc(secret)}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

function header(headers: HeadersLike, name: string): string | string[] | undefined {
  if (typeof (headers as Headers).get === "function" && typeof (headers as Headers).has === "function") {
    const h = headers as Headers;
    // fetch joins repeated fields with ", " (the DPoP check refuses that as several proofs).
    return h.get(name) ?? undefined;
  }
  const rec = headers as Record<string, string | string[] | undefined>;
  return rec[name] ?? rec[name.toLowerCase()];
}

function single(
  v: string | string[] | undefined,
  code: "ERR_AUTH_SCHEME" | "ERR_DPOP_MALFORMED",
  what: string,
): string | undefined {
  if (Array.isArray(v)) {
    if (v.length > 1) throw refuse(code, `exactly one ${what} header is allowed`);
    return v[0];
  }
  return v;
}

/** RFC 6750 §2.1 / RFC 9449 §7.1: `<scheme> <token68>`, scheme case-insensitive. */
function parseAuthorization(v: string): { scheme: "dpop" | "bearer"; token: string } {
  const m = /^([A-Za-z]+) +([A-Za-z0-9\-._~+/]+=*)$/.exec(v.trim());
  const scheme = m?.[1]?.toLowerCase();
  if (!m || (scheme !== "dpop" && scheme !== "bearer")) {
    throw refuse("ERR_AUTH_SCHEME", "Authorization must be `DPoP <token>`");
  }
  return { scheme, token: m[2] as string };
}

export class Verifier {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: IssuerKeysT;
  readonly revocations = new RevocationIndex();
  readonly #o: VerifierOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #leeway: number;
  readonly #cache: VerifiedTokenCache;
  readonly #replay: ReplayCache;
  readonly #nonce: DpopNonceSource | undefined;
  readonly #stream: RevocationStream | undefined;
  readonly #lists = new Map<string, { list: StatusList; asOf: number }>();
  readonly #listFetches = new Map<string, Promise<StatusList>>();
  #streamStarted = false;
  #closed = false;

  constructor(options: VerifierOptions) {
    this.#o = options;
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.#fetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
    this.#now = options.now ?? Date.now;
    this.#leeway = options.leewaySec ?? 5;
    this.#cache = new VerifiedTokenCache(options.tokenCacheSize ?? 10_000);
    this.#replay = new ReplayCache(options.dpop?.replayCacheSize ?? 100_000);
    const nonce = options.dpop?.nonce;
    this.#nonce = nonce === true ? rotatingNonces(this.#now) : nonce === false ? undefined : nonce;
    this.keys = new IssuerKeys({
      issuer: options.issuer,
      fetch: this.#fetch,
      now: this.#now,
      ...(options.jwks?.jwksUri !== undefined ? { jwksUri: options.jwks.jwksUri } : {}),
      ...(options.jwks?.refreshIntervalMs !== undefined
        ? { refreshIntervalMs: options.jwks.refreshIntervalMs }
        : {}),
      ...(options.jwks?.minRefetchIntervalMs !== undefined
        ? { minRefetchIntervalMs: options.jwks.minRefetchIntervalMs }
        : {}),
      ...(options.signatureBackend !== undefined ? { backend: options.signatureBackend } : {}),
      onKeysRemoved: (kids) => this.#cache.dropKids(kids),
    });
    const r = options.revocation ?? {};
    if (r.events !== false && options.resourceId !== undefined && options.resourceSecret !== undefined) {
      this.#stream = new RevocationStream({
        url: "", // resolved from metadata at start
        authorization: basicAuth(options.resourceId, options.resourceSecret),
        fetch: this.#fetch,
        now: this.#now,
        onRevocation: (e) => {
          this.revocations.apply(e.cascade);
          // The target itself, in case a cascade ever leaves it out.
          if (/^(agt|grt|prn)_/.test(e.target)) this.revocations.apply({ agents: [e.target] });
          this.#o.onRevocation?.(e);
        },
        onError: (e) => this.#report(e),
        ...(r.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: r.heartbeatTimeoutMs } : {}),
        ...(r.initialBackoffMs !== undefined ? { initialBackoffMs: r.initialBackoffMs } : {}),
        ...(r.maxBackoffMs !== undefined ? { maxBackoffMs: r.maxBackoffMs } : {}),
        ...(r.maxEventLength !== undefined ? { maxEventLength: r.maxEventLength } : {}),
      });
    }
  }

  /**
   * Fetches metadata and keys and opens the event stream. Optional: the first `verify` does it
   * too; call it at startup to fail fast on a wrong issuer.
   *
   * @example
   * await verifier.start();
   */
  async start(): Promise<void> {
    await this.keys.refresh();
    this.#startStream();
  }

  #startStream(): void {
    if (this.#streamStarted || this.#closed || !this.#stream) return;
    this.#streamStarted = true;
    const stream = this.#stream;
    this.keys.metadata().then(
      (m) => {
        if (this.#closed) return;
        const url =
          m.revocation_events_endpoint ?? `${this.issuer.replace(/\/+$/, "")}/v1/revocations/events`;
        stream.setUrl(url);
        stream.start();
      },
      (e: unknown) => {
        this.#streamStarted = false;
        this.#report(
          new EventStreamError("ERR_EVENT_STREAM_CONNECT", "issuer metadata unavailable", { cause: e }),
        );
      },
    );
  }

  /**
   * Stops the event stream (and its timers).
   *
   * @example
   * await verifier.close();
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stream?.stop();
  }

  /** Where revocation knowledge stands. */
  health(): RevocationHealth {
    const size = this.revocations.size;
    return {
      streamConnected: this.#stream?.connected ?? false,
      streamLastFrameAt: this.#stream?.lastFrameAt ?? Number.NEGATIVE_INFINITY,
      lastEventId: this.#stream?.lastEventId ?? 0,
      revokedTokens: size.tokens,
      revokedIds: size.ids,
      statusLists: this.#lists.size,
    };
  }

  /** The nonce to hand out in `DPoP-Nonce` when nonces are required. */
  dpopNonce(): string | undefined {
    return this.#nonce?.current();
  }

  /**
   * Verifies a request: `Authorization: DPoP <token>` with its `DPoP` proof (or Bearer when
   * allowed), the token, the proof, revocation, and `requiredScope` when given.
   * Throws {@link VerificationError}; never anything else for bad input.
   *
   * @example
   * const who = await verifier.verify({ method: req.method, url: "https://api.example.com/tickets", headers: req.headers }, { requiredScope: "tickets:read" });
   */
  async verify(
    request: RequestLike,
    options: { requiredScope?: string | readonly string[] } = {},
  ): Promise<VerifiedCaller> {
    const auth = single(header(request.headers, "authorization"), "ERR_AUTH_SCHEME", "Authorization");
    if (auth === undefined || auth === "") throw refuse("ERR_TOKEN_MISSING", "no access token");
    const { scheme, token } = parseAuthorization(auth);
    const proof = single(header(request.headers, "dpop"), "ERR_DPOP_MALFORMED", "DPoP");
    if (scheme === "bearer" && !this.#o.allowBearer) {
      throw refuse(
        "ERR_BEARER_NOT_ALLOWED",
        "this resource accepts DPoP-bound tokens only (Authorization: DPoP)",
      );
    }
    // The presentation (the proof, or a bound token sent as Bearer) is checked before revocation,
    // so a caller who cannot present the token learns nothing about its revocation state.
    const caller = await this.#verifyAccessToken(
      token,
      scheme === "bearer"
        ? (c) => {
            // RFC 9449 §7.1: a DPoP-bound token presented as Bearer is a stolen-token attempt, refused.
            if (c.jkt !== undefined)
              throw refuse(
                "ERR_TOKEN_NOT_BEARER",
                "a DPoP-bound token must be sent with Authorization: DPoP",
              );
          }
        : (c) => this.#checkProof(token, c, { proof: proof ?? "", method: request.method, url: request.url }),
    );
    if (options.requiredScope !== undefined) requireScope(caller, options.requiredScope);
    return caller;
  }

  /**
   * Verifies an access token: signature (skipped for a token seen before), claims, lifetime and
   * revocation. A DPoP-bound token (`cnf.jkt`) also needs its proof (RFC 9449 §7.1): pass
   * `dpop: { proof, method, url }` from the request it came with, or — only when your code checks
   * that proof itself — `dpop: "checked-elsewhere"`. Without either, a bound token is refused with
   * `ERR_DPOP_PROOF_REQUIRED`, so a stolen bound token can never pass as a bearer token by accident.
   * A token that is not DPoP-bound is refused with `ERR_BEARER_NOT_ALLOWED` unless the verifier
   * was created with `allowBearer`, as {@link verify} refuses `Authorization: Bearer`.
   * Prefer {@link verify}, which reads the token and the proof from the request.
   *
   * @example
   * const who = await verifier.verifyToken(token, { dpop: { proof: req.headers.dpop, method: "GET", url: "https://api.example.com/tickets" } });
   * const mine = await verifier.verifyToken(token, { dpop: "checked-elsewhere" }); // you verify the proof against who.jkt
   */
  verifyToken(token: string, options: VerifyTokenOptions = {}): Promise<VerifiedCaller> {
    const dpop = options?.dpop;
    if (dpop === undefined || dpop === "checked-elsewhere") {
      const refuseBound = dpop === undefined;
      // A token that is not DPoP-bound is a bearer token: only where `allowBearer` says so.
      const refuseUnbound = !this.#o.allowBearer;
      return this.#verifyAccessToken(token, (c) => {
        // RFC 9449 §7.1: a DPoP-bound token is only good with a proof by its key.
        if (refuseBound && c.jkt !== undefined) {
          throw refuse(
            "ERR_DPOP_PROOF_REQUIRED",
            'the access token is DPoP-bound (cnf.jkt): verifyToken needs its DPoP proof, or dpop: "checked-elsewhere"',
          );
        }
        if (refuseUnbound && c.jkt === undefined) {
          throw refuse(
            "ERR_BEARER_NOT_ALLOWED",
            "the access token is not DPoP-bound, and this verifier accepts bearer tokens only with allowBearer",
          );
        }
      });
    }
    return this.#verifyAccessToken(token, (c) => this.#checkProof(token, c, dpop));
  }

  /** RFC 9449 §4.3 and §7.1: the proof of possession of the key the token is bound to. */
  async #checkProof(token: string, caller: VerifiedCaller, dpop: DpopRequest): Promise<void> {
    const jkt = caller.jkt;
    if (jkt === undefined)
      throw refuse("ERR_TOKEN_CLAIMS", "Authorization: DPoP needs a DPoP-bound token (cnf.jkt)");
    // Plain JavaScript callers may hand over a missing header, or misspell "checked-elsewhere".
    if (typeof dpop !== "object" || dpop === null || typeof dpop.proof !== "string" || dpop.proof === "")
      throw refuse("ERR_DPOP_MISSING", "the DPoP proof header is missing");
    await verifyDpopProof(dpop.proof, {
      htm: String(dpop.method).toUpperCase(),
      htu: String(dpop.url),
      nowSec: Math.floor(this.#now() / 1000),
      accessToken: token,
      expectedJkt: jkt,
      replay: this.#replay,
      ...(this.#o.dpop?.maxAgeSec !== undefined ? { maxAgeSec: this.#o.dpop.maxAgeSec } : {}),
      ...(this.#o.dpop?.futureSkewSec !== undefined ? { futureSkewSec: this.#o.dpop.futureSkewSec } : {}),
      ...(this.#nonce !== undefined ? { nonce: this.#nonce } : {}),
      ...(this.#o.signatureBackend !== undefined ? { backend: this.#o.signatureBackend } : {}),
    });
  }

  /**
   * The token: signature (skipped for a token seen before), claims, lifetime, then `presented`
   * (the DPoP proof, or what a token without one must be), and only then revocation. In that
   * order a token refused anyway costs no status-list fetch, and a caller without a valid proof
   * cannot learn whether the token was revoked.
   */
  async #verifyAccessToken(
    token: string,
    presented: (caller: VerifiedCaller) => void | Promise<void>,
  ): Promise<VerifiedCaller> {
    this.#startStream();
    const nowMs = this.#now();
    const nowSec = Math.floor(nowMs / 1000);
    let claims = this.#cache.get(token);
    if (claims !== undefined) {
      // RFC 9068 §4: exp (and nbf) are checked on every use, not only the first.
      checkLifetime(claims, { nowSec, leewaySec: this.#leeway });
    } else {
      const pending = verifyAccessToken(token, {
        issuer: this.issuer,
        audience: this.audience,
        nowSec,
        leewaySec: this.#leeway,
        keys: this.keys,
      });
      // Synchronous with a cached key on a synchronous backend: no await, no extra microtask.
      const verified = pending instanceof Promise ? await pending : pending;
      claims = verified.claims;
      // Freezes the claims in place: what we return is what the cache holds.
      this.#cache.set(token, claims, verified.kid);
    }
    const caller = callerOf(claims);
    // Synchronous checks need no await (the warm path stays free of microtasks).
    const checked = presented(caller);
    if (checked instanceof Promise) await checked;
    if (!this.#revocationDecided(claims, nowMs)) await this.#checkRevocation(claims, nowMs);
    return caller;
  }

  /**
   * Revocation, synchronously where possible (the warm path never awaits): true when decided
   * (throws when revoked), false when a status list must be fetched first.
   */
  #revocationDecided(claims: AccessTokenClaims, nowMs: number): boolean {
    this.revocations.sweep(Math.floor(nowMs / 1000), this.#leeway);
    if (this.revocations.isRevoked(claims))
      throw refuse("ERR_TOKEN_REVOKED", "the access token has been revoked");
    const s = this.#streamState(claims, nowMs);
    if (s.live && s.covered) return true;
    const ref = claims.status?.status_list;
    if (this.#o.revocation?.statusList === false || ref === undefined) return false;
    const cached = this.#lists.get(ref.uri);
    if (cached === undefined || !this.#listUsable(cached, nowMs, s.live ? s.coveredSince : undefined, true))
      return false;
    checkStatus(cached.list, ref.idx);
    return true;
  }

  #streamState(claims: AccessTokenClaims, nowMs: number) {
    const r = this.#o.revocation ?? {};
    const bound = r.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS;
    const stream = this.#stream;
    if (stream === undefined)
      return {
        live: false,
        covered: false,
        age: Number.POSITIVE_INFINITY,
        coveredSince: Number.POSITIVE_INFINITY,
      };
    const age = nowMs - stream.lastFrameAt;
    return {
      live: stream.connected && age <= Math.min(r.heartbeatTimeoutMs ?? 30_000, bound),
      // Revocations after the stream began covering us reach us; earlier ones only via the status list.
      covered: claims.iat * 1000 >= stream.coveredSince + (r.coverageMarginMs ?? 5_000),
      age,
      coveredSince: stream.coveredSince,
    };
  }

  /** Within its `ttl` and the bound — or fetched after the (live) stream began covering us. */
  #listUsable(
    c: { list: StatusList; asOf: number },
    nowMs: number,
    coveredSince: number | undefined,
    honourTtl: boolean,
  ): boolean {
    if (coveredSince !== undefined && c.asOf >= coveredSince) return true;
    const bound = this.#o.revocation?.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS;
    const ttlMs = honourTtl && c.list.ttl !== undefined ? c.list.ttl * 1000 : bound;
    return nowMs - c.asOf <= Math.min(ttlMs, bound);
  }

  async #checkRevocation(claims: AccessTokenClaims, nowMs: number): Promise<void> {
    const bound = this.#o.revocation?.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS;
    const s = this.#streamState(claims, nowMs);
    const ref = claims.status?.status_list;
    if (this.#o.revocation?.statusList !== false && ref !== undefined) {
      const list = await this.#statusList(ref.uri, nowMs, s.live ? s.coveredSince : undefined);
      if (list !== undefined) {
        checkStatus(list, ref.idx);
        return;
      }
    }
    // No usable status list: the stream alone may answer if it is recent enough and covers the token.
    if (s.covered && s.age <= bound) return;
    throw refuse(
      "ERR_REVOCATION_STATE_STALE",
      "revocation state is older than the configured bound (event stream and status list unavailable)",
    );
  }

  /**
   * A status list fresh enough to answer: younger than its `ttl` and the bound, or — while the
   * stream is live — fetched after the stream began covering us (the stream tells the rest).
   * Undefined when none can be had.
   */
  async #statusList(
    uri: string,
    nowMs: number,
    coveredSince: number | undefined,
  ): Promise<StatusList | undefined> {
    const cached = this.#lists.get(uri);
    if (cached && this.#listUsable(cached, nowMs, coveredSince, true)) return cached.list;
    if (!this.#sameOrigin(uri)) {
      this.#report(
        new StatusListError("ERR_STATUS_LIST_FETCH", `status list ${uri} is not on the issuer's origin`),
      );
      return undefined;
    }
    let pending = this.#listFetches.get(uri);
    if (!pending) {
      pending = fetchStatusList(uri, {
        issuer: this.issuer,
        keys: this.keys,
        fetch: this.#fetch,
        nowSec: () => Math.floor(this.#now() / 1000),
        leewaySec: this.#leeway,
      });
      this.#listFetches.set(uri, pending);
      pending.then(
        () => this.#listFetches.delete(uri),
        () => this.#listFetches.delete(uri),
      );
    }
    try {
      const fetchedAt = this.#now();
      const list = await pending;
      // Knowledge is as old as the list's own iat, or our fetch, whichever is earlier.
      this.#lists.set(uri, { list, asOf: Math.min(fetchedAt, list.iat * 1000) });
      return list;
    } catch (e) {
      this.#report(e as Error);
      // A list we already had still answers while it is within the bound (past its ttl).
      if (cached && this.#listUsable(cached, nowMs, coveredSince, false)) return cached.list;
      return undefined;
    }
  }

  #sameOrigin(uri: string): boolean {
    try {
      return new URL(uri).origin === new URL(this.issuer).origin;
    } catch {
      return false;
    }
  }

  #report(error: Error & { code?: string }): void {
    try {
      this.#o.onError?.(error);
    } catch {
      // A throwing error handler must not take the verifier down.
    }
  }
}

/** draft-ietf-oauth-status-list §8.3: any status but VALID (0), or an index outside the list, refuses. */
function checkStatus(list: StatusList, idx: number): void {
  const status = statusAt(list, idx);
  if (status === undefined)
    throw refuse("ERR_TOKEN_REVOKED", "the token's status index is outside its status list");
  if (status !== 0) throw refuse("ERR_TOKEN_REVOKED", "the access token has been revoked (status list)");
}

/** RFC 6749 §3.3: space-delimited; stray spaces make no empty scope. */
function scopesOf(scope: string): string[] {
  const scopes = scope.split(" ");
  return scopes.includes("") ? scopes.filter((s) => s.length > 0) : scopes;
}

function callerOf(claims: AccessTokenClaims): VerifiedCaller {
  const chain: string[] = [];
  for (let a = claims.act.act; a !== undefined; a = a.act) chain.push(a.sub);
  return {
    principal: claims.sub,
    agent: claims.client_id,
    chain,
    scope: scopesOf(claims.scope),
    tokenId: claims.jti,
    grantId: claims.grant_id,
    jkt: claims.cnf?.jkt,
    claims,
  };
}

/**
 * Throws `ERR_INSUFFICIENT_SCOPE` (403, RFC 6750 §3.1) unless the caller holds every scope.
 *
 * @example
 * requireScope(who, "tickets:write");
 */
export function requireScope(
  caller: Pick<VerifiedCaller, "scope">,
  required: string | readonly string[],
): void {
  const needed =
    typeof required === "string" ? required.split(" ").filter((s) => s.length > 0) : [...required];
  const missing = needed.filter((s) => !caller.scope.includes(s));
  if (missing.length > 0) {
    throw new VerificationError("ERR_INSUFFICIENT_SCOPE", `this request needs scope ${needed.join(" ")}`, {
      scope: needed.join(" "),
    });
  }
}

/**
 * Creates a {@link Verifier}.
 *
 * @example
 * const verifier = createVerifier({ issuer: "http://127.0.0.1:4747", audience: "https://api.example.com", resourceId: "res_…", resourceSecret: process.env.DEPUTY_RESOURCE_SECRET });
 */
export function createVerifier(options: VerifierOptions): Verifier {
  return new Verifier(options);
}
