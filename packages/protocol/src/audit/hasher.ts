/**
 * The two hashes of an RFC 9162 §2.1 Merkle tree, behind an interface the caller may replace.
 *
 * Web Crypto's `crypto.subtle.digest` is asynchronous, and for 32–300-byte inputs its per-call
 * overhead dwarfs the hashing itself. Clients checking a proof (O(log n) hashes) do not notice;
 * a server appending 20,000 entries/s or a CLI re-hashing a million entries does. So every Merkle
 * operation here is written once, as a computation that *asks* for hashes, and runs either:
 *
 * - asynchronously with any {@link AsyncMerkleHasher} (the default, {@link webCryptoHasher}), and
 *   then returns a `Promise`; or
 * - synchronously with a {@link SyncMerkleHasher} (`sync: true`), and then returns the value
 *   itself, with no promise or microtask per hash. In Node:
 *
 * ```ts
 * import { createHash } from "node:crypto";
 * const fast = createSyncHasher((data) => createHash("sha256").update(data).digest());
 * const root = rootFromLeaves(leafHashes, fast); // Uint8Array, not a Promise
 * ```
 *
 * The return type follows the hasher's type ({@link HashResult}), and so does the runtime: a
 * hasher is synchronous exactly when its `sync` property is `true`.
 *
 * @example
 * const leaf = await webCryptoHasher.leaf(new TextEncoder().encode('{"index":0}'));
 * const parent = await webCryptoHasher.node(leaf, leaf);
 */
import { concatBytes, HASH_SIZE } from "./encoding.js";

/** A hasher whose results may be promises (Web Crypto). Functions given one return promises. */
export interface AsyncMerkleHasher {
  readonly sync?: false;
  /** RFC 9162 §2.1.1: `SHA-256(0x00 || entry)`. */
  leaf(entry: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** RFC 9162 §2.1.1: `SHA-256(0x01 || left || right)`. */
  node(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** A hasher that answers synchronously. Functions given one return plain values. */
export interface SyncMerkleHasher {
  readonly sync: true;
  /** RFC 9162 §2.1.1: `SHA-256(0x00 || entry)`. */
  leaf(entry: Uint8Array): Uint8Array;
  /** RFC 9162 §2.1.1: `SHA-256(0x01 || left || right)`. */
  node(left: Uint8Array, right: Uint8Array): Uint8Array;
}

export type MerkleHasher = AsyncMerkleHasher | SyncMerkleHasher;

/** `T` for a {@link SyncMerkleHasher}, `Promise<T>` otherwise. */
export type HashResult<H extends MerkleHasher, T> = H extends SyncMerkleHasher ? T : Promise<T>;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/** The default hasher: SHA-256 from Web Crypto (`crypto.subtle`), available in browsers, Node, Deno, Workers. */
export const webCryptoHasher: AsyncMerkleHasher = Object.freeze({
  leaf: (entry: Uint8Array) => sha256(concatBytes(LEAF_PREFIX, entry)),
  node: (left: Uint8Array, right: Uint8Array) => sha256(concatBytes(NODE_PREFIX, left, right)),
});

/**
 * Builds a {@link SyncMerkleHasher} from any synchronous SHA-256 function, such as Node's
 * `crypto.hash` (Node ≥ 20.12) or `createHash`. The function must return the 32-byte digest of
 * its input and must not keep a reference to the input: node hashes reuse one 65-byte buffer.
 *
 * @example
 * import { hash } from "node:crypto";
 * const hasher = createSyncHasher((data) => hash("sha256", data, "buffer"));
 * const range = new CompactRange(hasher);
 * range.append(hasher.leaf(entryBytes)); // no await
 */
export function createSyncHasher(sha256Sync: (data: Uint8Array) => Uint8Array): SyncMerkleHasher {
  const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE);
  nodeInput[0] = NODE_PREFIX[0]!;
  return Object.freeze({
    sync: true as const,
    leaf: (entry: Uint8Array) => sha256Sync(concatBytes(LEAF_PREFIX, entry)),
    node: (left: Uint8Array, right: Uint8Array) => {
      if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
        return sha256Sync(concatBytes(NODE_PREFIX, left, right));
      }
      nodeInput.set(left, 1);
      nodeInput.set(right, 1 + HASH_SIZE);
      return sha256Sync(nodeInput);
    },
  });
}

/** A hash a computation asks for: a leaf hash of `[entry]`, or a node hash of `[left, right]`. */
export type HashRequest = readonly [entry: Uint8Array] | readonly [left: Uint8Array, right: Uint8Array];

/**
 * A Merkle computation written once for both kinds of hasher: it `yield`s each hash it needs and
 * receives the digest back. {@link runHashing} drives it.
 */
export type Hashing<T> = Generator<HashRequest, T, Uint8Array>;

/** Runs `job` with `hasher`: synchronously for a {@link SyncMerkleHasher}, else as a promise. */
export function runHashing<H extends MerkleHasher, T>(hasher: H, job: Hashing<T>): HashResult<H, T> {
  if (hasher.sync === true) {
    let step = job.next();
    while (!step.done) {
      const request = step.value;
      const digest = request.length === 1 ? hasher.leaf(request[0]) : hasher.node(request[0], request[1]);
      step = job.next(checkDigest(digest));
    }
    return step.value as HashResult<H, T>;
  }
  const run = async (): Promise<T> => {
    let step = job.next();
    while (!step.done) {
      const request = step.value;
      const digest = await (request.length === 1
        ? hasher.leaf(request[0])
        : hasher.node(request[0], request[1]));
      step = job.next(checkDigest(digest));
    }
    return step.value;
  };
  return run() as HashResult<H, T>;
}

/** Throws unless `digest` is a 32-byte Uint8Array. */
export function checkDigest(digest: unknown): Uint8Array {
  // A misdeclared hasher (sync: true returning promises) or a non-SHA-256 one would otherwise
  // produce roots that silently never match.
  if (!(digest instanceof Uint8Array) || digest.length !== HASH_SIZE) {
    throw new TypeError("a Merkle hasher must return 32-byte Uint8Array digests");
  }
  return digest;
}

const EMPTY_ROOT = new Uint8Array([
  0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae,
  0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/**
 * The root of the empty tree, MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1): the root
 * of a size-0 checkpoint. A fresh copy on every call.
 *
 * @example
 * encodeHash(emptyRoot()); // "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
 */
export function emptyRoot(): Uint8Array {
  return EMPTY_ROOT.slice();
}
