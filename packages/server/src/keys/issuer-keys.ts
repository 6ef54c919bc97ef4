/**
 * The issuer's token-signing keys. One active Ed25519 key signs; retired keys stay published in
 * the JWKS until every token they signed has expired (DESIGN §4), then drop out. Private keys are
 * kept sealed with the master-key ring in the store and only ever decrypted into memory.
 *
 * Replicas sharing a database pick up a rotation made elsewhere: an unknown `kid` triggers a
 * reload (rate-limited), and the signing key is re-read every {@link RELOAD_INTERVAL_MS}.
 *
 * @example
 * const keys = await IssuerKeyring.open(store, masterKeys, clock);
 * const jwt = keys.sign({ typ: "at+jwt" }, claims);
 * await keys.rotate(); // new key signs; the old one stays in the JWKS until its tokens expire
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { Clock } from "../clock.js";
import { jwkThumbprint } from "../crypto/jwk.js";
import { signCompactJws, signCompactJwsAsync } from "../crypto/jws.js";
import type { MasterKeyRing } from "../crypto/master-key-ring.js";
import type { IssuerKeyRecord, Store } from "../store/index.js";

export const ISSUER_KEY_CONTEXT = "deputy:issuer-key:v1";
export const RELOAD_INTERVAL_MS = 10_000;
/** Extra publication time after the last token's expiry, for verifiers' clock skew. */
export const RETIRE_MARGIN_MS = 60_000;

interface LoadedKey {
  record: IssuerKeyRecord;
  publicKey: KeyObject;
  privateKey: KeyObject | null;
}

export class IssuerKeyring {
  private active!: LoadedKey;
  private byKid = new Map<string, LoadedKey>();
  private loadedAt = 0;
  private lastMissReload = 0;

  private constructor(
    private readonly store: Store,
    private readonly masterKeys: MasterKeyRing,
    private readonly clock: Clock,
  ) {}

  /** Loads the keys, creating the first signing key if there is none. */
  static async open(store: Store, masterKeys: MasterKeyRing, clock: Clock): Promise<IssuerKeyring> {
    const ring = new IssuerKeyring(store, masterKeys, clock);
    if ((await store.issuerKeys.active()) === null) {
      await store.transaction((tx) => tx.issuerKeys.createFirst(ring.generate()));
    }
    await ring.reload();
    return ring;
  }

  get activeKid(): string {
    return this.active.record.kid;
  }

  /** Signs a compact JWS with the active key (`alg: EdDSA`, `kid` set). */
  sign(header: Record<string, unknown>, payload: Record<string, unknown>): string {
    if (this.clock.now() - this.loadedAt > RELOAD_INTERVAL_MS) void this.reload().catch(() => {});
    const key = this.active;
    return signCompactJws(
      { ...header, alg: "EdDSA", kid: key.record.kid },
      payload,
      key.privateKey!,
      "EdDSA",
    );
  }

  /** {@link sign} on the thread pool; also returns the kid that signed. */
  async signAsync(
    header: Record<string, unknown>,
    payload: Record<string, unknown>,
  ): Promise<{ jws: string; kid: string }> {
    if (this.clock.now() - this.loadedAt > RELOAD_INTERVAL_MS) void this.reload().catch(() => {});
    const key = this.active;
    const jws = await signCompactJwsAsync(
      { ...header, alg: "EdDSA", kid: key.record.kid },
      payload,
      key.privateKey!,
      "EdDSA",
    );
    return { jws, kid: key.record.kid };
  }

  /** The public key for `kid` if it is still published; reloads once on a miss (rotation elsewhere). */
  publicKey(kid: string): KeyObject | undefined {
    const hit = this.byKid.get(kid);
    if (hit) return hit.publicKey;
    const now = this.clock.now();
    if (now - this.lastMissReload > 1000) {
      this.lastMissReload = now;
      void this.reload().catch(() => {});
    }
    return undefined;
  }

  /** Async variant that waits for a reload on a miss (used where latency is not critical). */
  async resolve(kid: string): Promise<KeyObject | undefined> {
    const hit = this.byKid.get(kid);
    if (hit) return hit.publicKey;
    if (this.clock.now() - this.lastMissReload > 1000) {
      this.lastMissReload = this.clock.now();
      await this.reload();
    }
    return this.byKid.get(kid)?.publicKey;
  }

  /** RFC 7517 JWK Set of every published key. */
  jwks(): { keys: Record<string, unknown>[] } {
    const now = this.clock.now();
    const keys = [...this.byKid.values()]
      .filter((k) => k.record.status === "active" || (k.record.publishUntil ?? 0) > now)
      .map((k) => ({ ...k.record.publicJwk, kid: k.record.kid, alg: "EdDSA", use: "sig" }));
    return { keys };
  }

  /**
   * Makes a new key the signer and retires the current one; the retired key stays published until
   * the last token it signed expires (plus {@link RETIRE_MARGIN_MS}). One transaction.
   */
  async rotate(): Promise<{ activeKid: string; retiredKid: string; retiredPublishedUntil: number }> {
    const result = await this.store.transaction(async (tx) => {
      const current = await tx.issuerKeys.active();
      const now = this.clock.now();
      const fresh = this.generate();
      if (current === null) {
        await tx.issuerKeys.create(fresh);
        return { activeKid: fresh.kid, retiredKid: "", retiredPublishedUntil: now };
      }
      const lastExpiry = (await tx.tokens.latestExpiryForKid(current.kid)) ?? now;
      const publishUntil = Math.max(lastExpiry, now) + RETIRE_MARGIN_MS;
      await tx.issuerKeys.retire(current.kid, now, publishUntil);
      await tx.issuerKeys.create(fresh);
      return { activeKid: fresh.kid, retiredKid: current.kid, retiredPublishedUntil: publishUntil };
    });
    await this.reload();
    return result;
  }

  /** Re-reads the keys when the last read is older than {@link RELOAD_INTERVAL_MS}. */
  async reloadIfStale(): Promise<void> {
    if (this.clock.now() - this.loadedAt > RELOAD_INTERVAL_MS) await this.reload();
  }

  /** Re-reads the published keys from the store. */
  async reload(): Promise<void> {
    const now = this.clock.now();
    const records = await this.store.issuerKeys.published(now);
    const next = new Map<string, LoadedKey>();
    let active: LoadedKey | undefined;
    for (const record of records) {
      const existing = this.byKid.get(record.kid);
      const loaded: LoadedKey =
        existing && existing.record.status === record.status
          ? existing
          : {
              record,
              publicKey: createPublicKey({ key: record.publicJwk as never, format: "jwk" }),
              privateKey:
                record.status === "active"
                  ? createPrivateKey({
                      key: this.masterKeys.open(record.privateKeyEnc, ISSUER_KEY_CONTEXT),
                      format: "der",
                      type: "pkcs8",
                    })
                  : null,
            };
      loaded.record = record;
      next.set(record.kid, loaded);
      if (record.status === "active") active = loaded;
    }
    if (!active) throw new Error("no active issuer key in the store");
    this.byKid = next;
    this.active = active;
    this.loadedAt = now;
  }

  private generate(): IssuerKeyRecord {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const publicJwk = publicKey.export({ format: "jwk" }) as Record<string, unknown>;
    const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
    return {
      kid: jwkThumbprint(publicJwk),
      alg: "EdDSA",
      publicJwk: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x },
      privateKeyEnc: this.masterKeys.seal(pkcs8, ISSUER_KEY_CONTEXT),
      status: "active",
      createdAt: this.clock.now(),
      retiredAt: null,
      publishUntil: null,
    };
  }
}
