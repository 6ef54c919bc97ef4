/**
 * The issuer's metadata (RFC 8414) and signing keys (RFC 7517), fetched once and cached. An
 * unknown `kid` triggers a refetch; the set is also refreshed every `refreshIntervalMs`, so a key
 * the issuer has retired stops verifying once it leaves the JWKS. Whatever triggers it, at most
 * one fetch is in flight (others join it) and none starts within `minRefetchIntervalMs` of the
 * last attempt's start or end — success or failure — so neither a flood of forged kids nor an
 * issuer outage (when every verification finds the set due for a refresh) turns the verifier
 * into a JWKS hammer. Meanwhile the keys already loaded keep verifying.
 *
 * @example
 * const keys = new IssuerKeys({ issuer: "https://deputy.example", fetch, now: Date.now });
 * const key = await keys.resolve("kid-1"); // undefined when the issuer publishes no such key
 */
import { refuse } from "./errors.js";
import { importPublicJwk, type SignatureBackend, type VerifyKey } from "./jws.js";

/** The members of the authorization server metadata the verifier uses (RFC 8414 §2, DESIGN §4). */
export interface IssuerMetadata {
  issuer: string;
  jwks_uri: string;
  status_list_endpoint?: string;
  revocation_events_endpoint?: string;
  [member: string]: unknown;
}

export interface IssuerKeysOptions {
  issuer: string;
  fetch: typeof fetch;
  /** Epoch ms. */
  now: () => number;
  /** Skip discovery and use this JWKS URL. */
  jwksUri?: string;
  /** Default 300 000 (5 min). */
  refreshIntervalMs?: number;
  /**
   * Cooldown: least time between the last fetch attempt (its start or its end, whichever is later)
   * and the next one a verification may trigger. Default 5 000.
   */
  minRefetchIntervalMs?: number;
  /** Default Web Crypto. */
  backend?: SignatureBackend;
  /** Called with the kids that disappeared from the set (so cached verifications by them are dropped). */
  onKeysRemoved?: (kids: string[]) => void;
}

/** RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path. */
export function metadataUrl(issuer: string): string {
  const u = new URL(issuer);
  const path = u.pathname === "/" ? "" : u.pathname.replace(/\/+$/, "");
  return `${u.origin}/.well-known/oauth-authorization-server${path}`;
}

async function getJson(f: typeof fetch, url: string): Promise<unknown> {
  const res = await f(url, { headers: { accept: "application/json" }, redirect: "error" });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.json();
}

export class IssuerKeys {
  readonly #o: IssuerKeysOptions;
  #metadata: Promise<IssuerMetadata> | undefined;
  #keys = new Map<string, VerifyKey>();
  #loadedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;
  /** Kids that appeared more than once in the last JWKS: refused, since we cannot tell which is meant. */
  readonly ambiguous = new Set<string>();

  constructor(options: IssuerKeysOptions) {
    this.#o = options;
  }

  /**
   * The issuer's metadata; `issuer` must equal the configured issuer exactly (RFC 8414 §3.3).
   *
   * @example
   * const { jwks_uri } = await keys.metadata();
   */
  metadata(): Promise<IssuerMetadata> {
    this.#metadata ??= (async () => {
      const body = (await getJson(this.#o.fetch, metadataUrl(this.#o.issuer))) as Partial<IssuerMetadata>;
      if (body === null || typeof body !== "object" || body.issuer !== this.#o.issuer) {
        throw new Error("authorization server metadata names another issuer (RFC 8414 §3.3)");
      }
      if (typeof body.jwks_uri !== "string") throw new Error("authorization server metadata has no jwks_uri");
      return body as IssuerMetadata;
    })();
    this.#metadata.catch(() => {
      this.#metadata = undefined;
    });
    return this.#metadata;
  }

  /** Number of usable keys. */
  get size(): number {
    return this.#keys.size;
  }

  /**
   * The key for `kid`, refetching the JWKS when it is unknown (rate-limited) or the set is due for
   * a refresh. Throws `ERR_JWKS_UNAVAILABLE` only when no JWKS was ever loaded.
   *
   * @example
   * const key = await keys.resolve(header.kid);
   */
  async resolve(kid: string): Promise<VerifyKey | undefined> {
    const now = this.#o.now();
    const due = now - this.#loadedAt >= (this.#o.refreshIntervalMs ?? 300_000);
    if (due || !this.#keys.has(kid)) {
      // Join a fetch under way; start one only outside the cooldown.
      const cooled = now - this.#attemptedAt >= (this.#o.minRefetchIntervalMs ?? 5_000);
      const pending = this.#inflight ?? (cooled ? this.refresh() : undefined);
      let failure: unknown = pending === undefined ? new Error("JWKS fetch cooling down") : undefined;
      if (pending !== undefined) {
        try {
          await pending;
        } catch (e) {
          failure = e;
        }
      }
      if (this.#loadedAt === Number.NEGATIVE_INFINITY) {
        throw refuse("ERR_JWKS_UNAVAILABLE", "the issuer's keys could not be fetched", { cause: failure });
      }
      // Otherwise keep verifying with the keys we have; a later resolve tries again after the cooldown.
    }
    return this.#keys.get(kid);
  }

  /** The key for `kid` if already loaded and the set is not due for a refresh: no fetch, no await. */
  peek(kid: string): VerifyKey | undefined {
    if (this.#o.now() - this.#loadedAt >= (this.#o.refreshIntervalMs ?? 300_000)) return undefined;
    return this.#keys.get(kid);
  }

  /**
   * Fetches the JWKS now (concurrent callers share one request).
   *
   * @example
   * await keys.refresh();
   */
  refresh(): Promise<void> {
    this.#inflight ??= this.#load().finally(() => {
      // The cooldown runs from the end of a slow attempt too (a fetch that takes longer than the
      // cooldown to fail must not be followed by the next at once).
      this.#attemptedAt = Math.max(this.#attemptedAt, this.#o.now());
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #load(): Promise<void> {
    this.#attemptedAt = this.#o.now();
    const uri = this.#o.jwksUri ?? (await this.metadata()).jwks_uri;
    const body = (await getJson(this.#o.fetch, uri)) as { keys?: unknown };
    if (body === null || typeof body !== "object" || !Array.isArray(body.keys)) {
      throw new Error("the JWKS is not a JSON object with a keys array (RFC 7517 §5)");
    }
    const next = new Map<string, VerifyKey>();
    const seen = new Set<string>();
    this.ambiguous.clear();
    for (const jwk of body.keys as unknown[]) {
      if (jwk === null || typeof jwk !== "object" || Array.isArray(jwk)) continue;
      const k = jwk as Record<string, unknown>;
      if (typeof k.kid !== "string" || k.kid.length === 0) continue;
      // RFC 7517 §4.2: a key for encryption never verifies a signature.
      if (k.use !== undefined && k.use !== "sig") continue;
      if (seen.has(k.kid)) {
        // RFC 7517 §4.5: kids should be unique; two keys under one kid are refused outright.
        this.ambiguous.add(k.kid);
        next.delete(k.kid);
        continue;
      }
      seen.add(k.kid);
      // Unexpected key types (RSA, oct, private keys, other curves) are skipped, never imported.
      const key = await importPublicJwk(k, this.#o.backend);
      if (key) next.set(k.kid, key);
    }
    for (const kid of this.ambiguous) next.delete(kid);
    const removed = [...this.#keys.keys()].filter((kid) => !next.has(kid));
    this.#keys = next;
    this.#loadedAt = this.#o.now();
    if (removed.length > 0) this.#o.onKeysRemoved?.(removed);
  }
}
