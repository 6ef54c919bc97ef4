/**
 * The server's Merkle hasher: RFC 9162 §2.1.1 leaf and node hashes over node:crypto's SHA-256,
 * synchronous (the protocol library's {@link SyncMerkleHasher}), so integrating thousands of
 * entries or answering a proof costs no promise per hash.
 *
 * @example
 * const leaf = hashEntry('{"index":0,…}'); // SHA-256(0x00 || entry bytes)
 * const range = new CompactRange(merkleHasher);
 * range.append(leaf);
 */
import { hash } from "node:crypto";
import { createSyncHasher, type SyncMerkleHasher } from "@deputy/protocol";

/** SHA-256 over node:crypto, wrapped by the protocol library's `createSyncHasher`. */
export const merkleHasher: SyncMerkleHasher = createSyncHasher((data) => hash("sha256", data, "buffer"));

/**
 * RFC 9162 §2.1.1 leaf hash of an entry as stored (its UTF-8 bytes): `SHA-256(0x00 || entry)`.
 * Equal to `merkleHasher.leaf(utf8(entry))`, without copying the entry into a new buffer.
 *
 * @example
 * hashEntry(record.entry).length; // 32
 */
export function hashEntry(entry: string | Uint8Array): Uint8Array {
  // One-shot `crypto.hash` (no Hash object per call); "\0" is the 0x00 prefix in UTF-8.
  if (typeof entry === "string") return hash("sha256", `\0${entry}`, "buffer");
  const data = Buffer.allocUnsafe(entry.length + 1);
  data[0] = 0x00;
  data.set(entry, 1);
  return hash("sha256", data, "buffer");
}
