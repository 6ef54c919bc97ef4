/**
 * Master-key rotation, the re-sealing half: every value sealed with the master-key ring (vault
 * KEKs, issuer private keys, the audit log key) is opened with whichever ring key sealed it and
 * sealed again under the active key, a few rows per transaction, while traffic keeps flowing.
 *
 * Why this is safe under load: a re-seal changes only the box, never the key inside it, so a
 * process that already holds the plaintext (a cached KEK, the loaded signing key) is unaffected;
 * and each row is replaced by compare-and-swap (`MasterSealedStore.replace`), so a box that was
 * changed or deleted meanwhile (a vault rotation dropping a KEK, another replica re-sealing) is
 * left alone rather than overwritten. Running it twice, or on several replicas at once, is
 * harmless: the second run finds nothing left to do.
 *
 * @example
 * const result = await rewrapMasterSealed(store, ring);   // { rewrapped: 3, status: {…} }
 * const status = await masterKeyStatus(store, ring);      // which key ids are still referenced
 */

import { LOG_KEY_CONTEXT } from "../audit/log-key.js";
import { KEK_CONTEXT } from "../broker/vault.js";
import { boxKeyId, MasterKeyMissingError, type MasterKeyRing } from "../crypto/master-key-ring.js";
import type { MasterSealedBox, MasterSealedKind, Store } from "../store/index.js";
import { ISSUER_KEY_CONTEXT } from "./issuer-keys.js";

/** Rows re-sealed per transaction: small, so no transaction holds locks for long. */
export const REWRAP_BATCH = 20;

const CONTEXTS: Record<MasterSealedKind, string> = {
  vault_key: KEK_CONTEXT,
  issuer_key: ISSUER_KEY_CONTEXT,
  audit_log_key: LOG_KEY_CONTEXT,
};

/** A box no key in the ring opens; `keyId` is the key it names (null for an id-less `v1` box). */
export interface UnreadableBox {
  kind: MasterSealedKind;
  id: string;
  keyId: string | null;
}

export interface MasterKeyStatus {
  activeKeyId: string;
  /** Ids of the ring's keys, active first. */
  ring: string[];
  /** Master-sealed boxes in the store. */
  total: number;
  /** Boxes per key id that opens (or, if absent from the ring, is named by) them. */
  references: Record<string, number>;
  /** Boxes not yet sealed under the active key with its id recorded: what a rewrap would do. */
  remaining: number;
  /** Boxes no key in the ring opens (their key was dropped too early). */
  unreadable: UnreadableBox[];
}

/**
 * Which master keys the stored boxes still need. A key id absent from `references` can be
 * dropped from every replica's ring.
 *
 * @example
 * const { references, remaining } = await masterKeyStatus(store, ring);
 */
export async function masterKeyStatus(store: Store, ring: MasterKeyRing): Promise<MasterKeyStatus> {
  const boxes = await store.masterSealed.list();
  const references: Record<string, number> = {};
  const unreadable: UnreadableBox[] = [];
  let remaining = 0;
  for (const box of boxes) {
    if (ring.needsReseal(box.sealed)) remaining++;
    let keyId: string | null;
    try {
      keyId = ring.sealedBy(box.sealed, CONTEXTS[box.kind]);
    } catch (e) {
      keyId = e instanceof MasterKeyMissingError ? e.keyId : boxKeyId(box.sealed);
      unreadable.push({ kind: box.kind, id: box.id, keyId });
    }
    const label = keyId ?? "unknown";
    references[label] = (references[label] ?? 0) + 1;
  }
  return {
    activeKeyId: ring.activeId,
    ring: ring.ids(),
    total: boxes.length,
    references,
    remaining,
    unreadable,
  };
}

/**
 * Re-seals every master-sealed box under the active key, {@link REWRAP_BATCH} per transaction,
 * yielding to other work between batches. Boxes no ring key opens are skipped and reported in
 * the returned status. `onProgress` is told after each batch.
 *
 * @example
 * const { rewrapped, status } = await rewrapMasterSealed(store, ring, { onProgress: (n, of) => log.info({ n, of }) });
 */
export async function rewrapMasterSealed(
  store: Store,
  ring: MasterKeyRing,
  options: { batchSize?: number; onProgress?: (done: number, of: number) => void } = {},
): Promise<{ rewrapped: number; status: MasterKeyStatus }> {
  const batchSize = options.batchSize ?? REWRAP_BATCH;
  const pending = (await store.masterSealed.list()).filter((b) => ring.needsReseal(b.sealed));
  let rewrapped = 0;
  for (let i = 0; i < pending.length; i += batchSize) {
    const batch = pending.slice(i, i + batchSize);
    // Decrypt and encrypt outside the transaction: it then only runs the compare-and-swaps.
    const resealed: Array<{ box: MasterSealedBox; next: string }> = [];
    for (const box of batch) {
      const next = reseal(ring, box);
      if (next !== null) resealed.push({ box, next });
    }
    rewrapped += await store.transaction(async (tx) => {
      let n = 0;
      for (const { box, next } of resealed) {
        if (await tx.masterSealed.replace(box.kind, box.id, box.sealed, next)) n++;
      }
      return n;
    });
    options.onProgress?.(Math.min(i + batchSize, pending.length), pending.length);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { rewrapped, status: await masterKeyStatus(store, ring) };
}

function reseal(ring: MasterKeyRing, box: MasterSealedBox): string | null {
  const context = CONTEXTS[box.kind];
  let plaintext: Buffer;
  try {
    plaintext = ring.open(box.sealed, context);
  } catch (e) {
    if (e instanceof MasterKeyMissingError) return null;
    throw e;
  }
  try {
    return ring.seal(plaintext, context);
  } finally {
    plaintext.fill(0);
  }
}
