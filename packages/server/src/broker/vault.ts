/**
 * The vault: envelope encryption of connection secrets (NIST SP 800-38D AES-256-GCM).
 *
 * - Each secret gets its own random 256-bit data key (DEK). The secret is sealed with the DEK,
 *   with AAD binding it to its connection id, so a ciphertext copied onto another connection
 *   does not open.
 * - The DEK is wrapped by the vault's active key-encryption key (KEK), again with AAD naming the
 *   connection; the wrapped DEK records the KEK's id.
 * - KEKs are random 256-bit keys, each sealed with the master-key ring's active key (`master.key`,
 *   crypto/master-key-ring.ts; `POST /v1/master-key/rewrap` re-seals them) and kept in the
 *   store. {@link Vault.rotate} makes a new KEK active and re-wraps every DEK in small
 *   transactions while calls keep flowing: a secret is always openable, by the old KEK until its
 *   DEK is re-wrapped, by the new one after. The old KEK is deleted only when nothing references
 *   it any more. Secrets themselves are never re-encrypted, and never leave this module except to
 *   be injected into an upstream request.
 *
 * @example
 * const vault = await Vault.open(store, masterKeys, clock);
 * const sealed = await vault.seal("con_…", Buffer.from("ghp_…"));
 * const secret = await vault.open("con_…", sealed);
 * await vault.rotate(); // { keyId, rewrapped }
 */
import { randomBytes } from "node:crypto";
import { newId } from "@deputy/protocol";
import type { Clock } from "../clock.js";
import type { MasterKeyRing } from "../crypto/master-key-ring.js";
import { openWithKey, sealWithKey } from "../crypto/secrets.js";
import type { SealedSecret, Store, VaultKeyRecord } from "../store/index.js";

export const KEK_CONTEXT = "deputy:vault:kek:v1";
const dekContext = (connectionId: string) => `deputy:vault:dek:v1:${connectionId}`;
const secretContext = (connectionId: string) => `deputy:vault:secret:v1:${connectionId}`;
/** Data keys re-wrapped per transaction during a rotation. */
const REWRAP_BATCH = 100;

export class Vault {
  readonly #keks = new Map<string, Buffer>();

  private constructor(
    private readonly store: Store,
    private readonly masterKeys: MasterKeyRing,
    private readonly clock: Clock,
  ) {}

  /**
   * Loads the key ring, creating the first KEK on first start. Every KEK is opened now, so a KEK
   * sealed by a master key that has left the ring stops the start with a clear error
   * (MasterKeyMissingError) instead of failing calls later.
   */
  static async open(store: Store, masterKeys: MasterKeyRing, clock: Clock): Promise<Vault> {
    const vault = new Vault(store, masterKeys, clock);
    if ((await store.broker.activeVaultKey()) === null) {
      await store.transaction(async (tx) => {
        if ((await tx.broker.activeVaultKey()) === null) await tx.broker.addVaultKey(vault.#newKek());
      });
    }
    for (const key of await store.broker.vaultKeys()) await vault.#kek(key.id);
    return vault;
  }

  #newKek(): VaultKeyRecord {
    return {
      id: newId("key"),
      sealed: this.masterKeys.seal(randomBytes(32), KEK_CONTEXT),
      status: "active",
      createdAt: this.clock.now(),
      retiredAt: null,
    };
  }

  async #kek(id: string): Promise<Buffer> {
    const cached = this.#keks.get(id);
    if (cached) return cached;
    const record = (await this.store.broker.vaultKeys()).find((k) => k.id === id);
    if (!record) throw new Error(`vault key ${id} is missing`);
    const key = this.masterKeys.open(record.sealed, KEK_CONTEXT);
    this.#keks.set(id, key);
    return key;
  }

  /** Seals a secret for a connection under a fresh data key wrapped by the active KEK. */
  async seal(connectionId: string, secret: Buffer, store: Store = this.store): Promise<SealedSecret> {
    const active = await store.broker.activeVaultKey();
    if (!active) throw new Error("the vault has no active key");
    const kek = await this.#kek(active.id);
    const dek = randomBytes(32);
    try {
      return {
        ciphertext: sealWithKey(dek, secret, secretContext(connectionId)),
        wrappedKey: sealWithKey(kek, dek, dekContext(connectionId)),
        keyId: active.id,
      };
    } finally {
      dek.fill(0);
    }
  }

  /** Opens a connection's secret; throws if anything (key, AAD, bytes) does not match. */
  async open(connectionId: string, sealed: SealedSecret): Promise<Buffer> {
    const kek = await this.#kek(sealed.keyId);
    const dek = openWithKey(kek, sealed.wrappedKey, dekContext(connectionId));
    try {
      return openWithKey(dek, sealed.ciphertext, secretContext(connectionId));
    } finally {
      dek.fill(0);
    }
  }

  /**
   * Master-key rotation for the vault: a new KEK becomes active (new secrets use it at once),
   * every data key wrapped by an older KEK is re-wrapped in batches of {@link REWRAP_BATCH}, and
   * each retired KEK is deleted once nothing references it. Idempotent and resumable: running it
   * again finishes a rotation that was interrupted.
   */
  async rotate(): Promise<{ keyId: string; rewrapped: number; retired: string[] }> {
    const fresh = this.#newKek();
    await this.store.transaction((tx) => tx.broker.addVaultKey(fresh));
    const newKek = await this.#kek(fresh.id);
    let rewrapped = 0;
    const retired: string[] = [];
    for (const old of (await this.store.broker.vaultKeys()).filter((k) => k.status === "retired")) {
      const oldKek = await this.#kek(old.id);
      for (;;) {
        const batch = await this.store.broker.connectionsWrappedBy(old.id, REWRAP_BATCH);
        if (batch.length === 0) break;
        rewrapped += await this.store.transaction(async (tx) => {
          let n = 0;
          for (const c of batch) {
            const dek = openWithKey(oldKek, c.secret.wrappedKey, dekContext(c.id));
            const wrapped = sealWithKey(newKek, dek, dekContext(c.id));
            dek.fill(0);
            if (await tx.broker.rewrapSecret(c.id, old.id, wrapped, fresh.id)) n++;
          }
          return n;
        });
      }
      if (await this.store.broker.dropVaultKey(old.id)) {
        retired.push(old.id);
        this.#keks.get(old.id)?.fill(0);
        this.#keks.delete(old.id);
      }
    }
    return { keyId: fresh.id, rewrapped, retired };
  }
}
