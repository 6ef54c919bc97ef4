/**
 * Token Status List (draft-ietf-oauth-status-list): `GET /v1/status/lists/{n}` answers a signed
 * Status List Token for indexes [n·{@link STATUS_LIST_SIZE}, (n+1)·{@link STATUS_LIST_SIZE}), one
 * bit per token, 1 (INVALID) for a revoked token. Every access token names its list and index in
 * `status.status_list` (`tokens/mint.ts`).
 *
 * Lists are built from the store on demand (one index range scan over revoked tokens, ≤ 8 KiB of
 * bits, DEFLATE) and kept for at most {@link REUSE_MS}; every revocation event clears the cache,
 * here and (through the revocation feed) on every replica, so a list never hides a revocation
 * that committed before it was requested, beyond the feed's own delay.
 *
 * @example
 * const lists = new StatusLists(deputy);
 * const { jwt, ttl } = await lists.get(0);
 */
import { deflateSync } from "node:zlib";
import { DeputyError } from "@deputy/protocol";
import type { Clock } from "../clock.js";
import type { IssuerKeyring } from "../keys/issuer-keys.js";
import type { Store } from "../store/index.js";
import { STATUS_LIST_SIZE } from "../tokens/mint.js";

/** A built list is served again for at most this long (unless a revocation clears it first). */
const REUSE_MS = 5_000;

/** `{n}` is a plain decimal number without leading zeros. */
const LIST_NUMBER = /^(0|[1-9][0-9]{0,8})$/;

/**
 * The 1-bit status array for `size` indexes starting at `offset`, with `revoked` set to 0x01.
 * draft-ietf-oauth-status-list §4.1: index i is bit (i mod 8) of byte ⌊i / 8⌋, bits counted from
 * the least significant ("0") to the most significant ("7").
 *
 * @example
 * statusBits(16, 0, [0, 3, 4, 5, 7, 8, 9, 13, 15]); // Uint8Array [0xb9, 0xa3] (§4.1's example)
 */
export function statusBits(size: number, offset: number, revoked: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(size / 8));
  for (const index of revoked) {
    const i = index - offset;
    if (i < 0 || i >= size) continue;
    bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (1 << (i & 7));
  }
  return bytes;
}

/**
 * The `lst` member: base64url of the ZLIB (RFC 1950) DEFLATE (RFC 1951) compressed bytes
 * (draft-ietf-oauth-status-list §4.2). Highest compression, as in the draft's examples.
 *
 * @example
 * encodeStatusList(Uint8Array.of(0xb9, 0xa3)); // "eNrbuRgAAhcBXQ"
 */
export function encodeStatusList(bytes: Uint8Array): string {
  return deflateSync(bytes, { level: 9 }).toString("base64url");
}

/**
 * Parses `{n}`; throws ERR_INVALID_STATUS_LIST for anything but a plain non-negative integer.
 *
 * @example
 * parseListNumber("3"); // 3
 * parseListNumber("03"); // throws ERR_INVALID_STATUS_LIST
 */
export function parseListNumber(raw: string): number {
  if (!LIST_NUMBER.test(raw)) {
    throw new DeputyError(
      "ERR_INVALID_STATUS_LIST",
      "the status list number must be a non-negative integer without leading zeros",
    );
  }
  return Number(raw);
}

export interface StatusListSource {
  store: Store;
  keys: IssuerKeyring;
  clock: Clock;
  /** The issuer URL (`iss`). */
  issuer: string;
  /** Base URL of the lists (`…/v1/status/lists`); list n is `${base}/${n}`. */
  base: string;
  /** Seconds (the `ttl` claim). */
  ttl: number;
}

export class StatusLists {
  private readonly cache = new Map<number, { jwt: string; builtAt: number }>();
  /** Bumped by every invalidation; a build that started before one is not cached. */
  private generation = 0;

  constructor(private readonly source: StatusListSource) {}

  /** Forgets every built list (called for every revocation event). */
  invalidate(): void {
    this.generation++;
    this.cache.clear();
  }

  /**
   * The Status List Token for list `n`. List 0 always exists; list n > 0 exists once an index in
   * it was handed out. Throws ERR_STATUS_LIST_NOT_FOUND beyond that.
   */
  async get(n: number): Promise<{ jwt: string; ttl: number }> {
    const { store, clock, ttl } = this.source;
    const now = clock.now();
    const hit = this.cache.get(n);
    if (hit && now - hit.builtAt < Math.min(REUSE_MS, ttl * 1000)) return { jwt: hit.jwt, ttl };
    const generation = this.generation;
    const from = n * STATUS_LIST_SIZE;
    if (n > 0 && from >= (await store.tokens.statusIndexHighWater())) {
      throw new DeputyError("ERR_STATUS_LIST_NOT_FOUND", `status list ${n} does not exist (yet)`);
    }
    const revoked = await store.tokens.revokedStatusIndexes(from, from + STATUS_LIST_SIZE);
    const jwt = this.sign(n, statusBits(STATUS_LIST_SIZE, from, revoked), now);
    if (generation === this.generation) this.cache.set(n, { jwt, builtAt: now });
    return { jwt, ttl };
  }

  private sign(n: number, bits: Uint8Array, nowMs: number): string {
    const iat = Math.floor(nowMs / 1000);
    const { ttl } = this.source;
    // draft-ietf-oauth-status-list §5.1: `sub` is the list's own URI (what tokens carry in
    // `status.status_list.uri`), `iat` required; `exp` and `ttl` recommended. `exp` at twice the
    // ttl: a client that cached it for the full ttl can still use it, and a stale list replayed by
    // an attacker is useless after that.
    return this.source.keys.sign(
      { typ: "statuslist+jwt" },
      {
        iss: this.source.issuer,
        sub: `${this.source.base}/${n}`,
        iat,
        exp: iat + 2 * ttl,
        ttl,
        status_list: { bits: 1, lst: encodeStatusList(bits) },
      },
    );
  }
}
