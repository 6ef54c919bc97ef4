/**
 * The master-key ring: every master key this process knows, the first one active. The active key
 * seals; every key in the ring opens. This is what makes replacing `master.key` possible without
 * downtime: add the new key in front, restart, re-seal every master-sealed row under it
 * (`POST /v1/master-key/rewrap`), then drop the old key.
 *
 * Key ids: the first 8 bytes (16 hex digits) of `SHA-256("deputy:master-key-id:v1" || 0x00 || key)`.
 * The domain-separation label keeps the id from being any other hash of the key anyone publishes;
 * 64 bits are plenty to tell a handful of ring members apart and reveal nothing usable about a
 * 256-bit key.
 *
 * Box formats (AES-256-GCM, {@link sealWithKey}):
 * - `v2.<key id>.<iv>.<ciphertext>.<tag>`: written by {@link MasterKeyRing.seal}; the key id is
 *   also bound as AAD (after the context), so relabelling a box with another id fails to open.
 * - `v1.<iv>.<ciphertext>.<tag>`: written before the ring existed. It records no key, so opening
 *   tries each ring key in turn; GCM authenticates, so a wrong key fails cleanly.
 *
 * @example
 * const ring = MasterKeyRing.from([newKey, oldKey]);
 * const box = ring.seal(pkcs8, "deputy:issuer-key:v1");   // "v2.<ring.activeId>.…"
 * ring.open(box, "deputy:issuer-key:v1");                 // pkcs8
 * ring.sealedBy(oldBox, "deputy:issuer-key:v1");          // the id of oldKey
 */
import { createHash, hkdfSync } from "node:crypto";
import { openWithKey, sealWithKey } from "./secrets.js";

const ID_LABEL = "deputy:master-key-id:v1";

/** A ring member: the key and its public id. */
export interface MasterKey {
  id: string;
  key: Buffer;
}

/**
 * Thrown when a box was sealed by a master key that is not in the ring (or, for a box from before
 * key ids, when no ring key opens it). `keyId` is null for such an id-less box.
 */
export class MasterKeyMissingError extends Error {
  constructor(readonly keyId: string | null) {
    super(
      keyId === null
        ? "no key in the master-key ring opens this box (it was sealed before boxes recorded their key id): " +
            "put the previous master key back into master.key (one base64 key per line, active first) or " +
            "DEPUTY_MASTER_KEY (comma-separated), restart, and run `deputy keys rewrap` before dropping it"
        : `the master key ${keyId} that sealed this box is not in the master-key ring: put it back into ` +
            "master.key (one base64 key per line, active first) or DEPUTY_MASTER_KEY (comma-separated), " +
            "restart, and run `deputy keys rewrap`; drop a key only when `deputy keys master-status` " +
            "shows nothing references it",
    );
    this.name = "MasterKeyMissingError";
  }
}

/**
 * The id of a master key (16 hex digits).
 *
 * @example
 * masterKeyId(Buffer.alloc(32, 7)); // "…16 hex digits…"
 */
export function masterKeyId(key: Buffer): string {
  return createHash("sha256")
    .update(ID_LABEL)
    .update(Buffer.from([0]))
    .update(key)
    .digest("hex")
    .slice(0, 16);
}

/**
 * The key id a box names, or null for an id-less `v1` box.
 *
 * @example
 * boxKeyId("v2.0123456789abcdef.…"); // "0123456789abcdef"
 */
export function boxKeyId(box: string): string | null {
  if (!box.startsWith("v2.")) return null;
  return box.split(".")[1] ?? null;
}

export class MasterKeyRing {
  private constructor(readonly keys: readonly MasterKey[]) {}

  /** A ring from raw keys, the first active. Throws on an empty ring, a wrong size or a duplicate. */
  static from(keys: readonly Buffer[]): MasterKeyRing {
    if (keys.length === 0) throw new Error("the master-key ring is empty");
    const members: MasterKey[] = [];
    for (const key of keys) {
      if (key.length !== 32) throw new Error("each master key must be 32 bytes");
      const id = masterKeyId(key);
      if (members.some((m) => m.id === id)) throw new Error(`master key ${id} is in the ring twice`);
      members.push({ id, key });
    }
    return new MasterKeyRing(members);
  }

  /** The id of the key that seals new boxes. */
  get activeId(): string {
    return this.keys[0]!.id;
  }

  /** Ids of every key in the ring, active first. */
  ids(): string[] {
    return this.keys.map((k) => k.id);
  }

  /** Seals under the active key, recording its id (`v2` box). */
  seal(plaintext: Buffer, context: string): string {
    const active = this.keys[0]!;
    return `v2.${active.id}.${sealWithKey(active.key, plaintext, v2Context(context, active.id)).slice(3)}`;
  }

  /**
   * Opens a box from {@link seal} or an id-less `v1` box. Throws {@link MasterKeyMissingError} when
   * the key is not in the ring, and a plain error when the box is malformed or was tampered with.
   */
  open(box: string, context: string): Buffer {
    return this.#open(box, context).plaintext;
  }

  /** The id of the ring key that opens `box` (trial decryption for `v1` boxes). */
  sealedBy(box: string, context: string): string {
    return this.#open(box, context).keyId;
  }

  /** True unless `box` is a `v2` box sealed by the active key. */
  needsReseal(box: string): boolean {
    return boxKeyId(box) !== this.activeId;
  }

  /**
   * HKDF-SHA-256 (RFC 5869) of every ring key under `info`, active first: MACs are made with the
   * first and accepted under any (so a rotation does not void what the previous key MAC'd).
   */
  derive(info: string): Buffer[] {
    return this.keys.map((k) => Buffer.from(hkdfSync("sha256", k.key, Buffer.alloc(0), info, 32)));
  }

  #open(box: string, context: string): { plaintext: Buffer; keyId: string } {
    if (box.startsWith("v2.")) {
      const [, id, ...rest] = box.split(".");
      if (!id || rest.length !== 3) throw new Error("malformed sealed box");
      const member = this.keys.find((k) => k.id === id);
      if (!member) throw new MasterKeyMissingError(id);
      return {
        plaintext: openWithKey(member.key, `v1.${rest.join(".")}`, v2Context(context, id)),
        keyId: id,
      };
    }
    if (!box.startsWith("v1.")) throw new Error("malformed sealed box");
    for (const member of this.keys) {
      try {
        return { plaintext: openWithKey(member.key, box, context), keyId: member.id };
      } catch (e) {
        if (e instanceof Error && e.message === "malformed sealed box") throw e;
      }
    }
    throw new MasterKeyMissingError(null);
  }
}

function v2Context(context: string, keyId: string): string {
  return `${context}\u0000master-key:${keyId}`;
}
