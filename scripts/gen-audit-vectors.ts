/**
 * Generates Deputy's audit-log conformance vectors (spec/vectors/audit/README.md): RFC 9162 Merkle
 * proofs, C2SP checkpoints and signed notes, and the attacks by name.
 *
 * Independence: nothing here imports the implementation under test
 * (packages/protocol/src/audit). The Merkle tree is computed by a direct, recursive transcription
 * of the RFC 9162 §2.1 definitions (MTH, PATH, SUBPROOF) over node:crypto, a different algorithm
 * from the library's iterative one; notes are signed with node:crypto's Ed25519. Expected error
 * codes are written here by hand from the specs. A behaviour change in the library therefore fails
 * a vector; it cannot be "fixed" by regenerating.
 *
 * External vectors are copied, not computed: rfc6962.json from transparency-dev/merkle and
 * signed-note.json from golang.org/x/mod/sumdb/note. The generator checks its own Merkle code
 * against the former on every run and refuses to write anything if it disagrees.
 *
 * Determinism: keys come from fixed seeds, SHA-256("deputy-vector-<label>") (the Ed25519 seed is
 * the private key, RFC 8032 §5.1.5), and Ed25519 signatures are deterministic.
 *
 * @example
 * npx tsx scripts/gen-audit-vectors.ts          # rewrite spec/vectors/audit/*.json
 * npx tsx scripts/gen-audit-vectors.ts --check  # exit 1 if the checked-in files differ (CI)
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// ---------------------------------------------------------------------------------------------
// Fixed inputs

/** The log's origin line, and the name of its note key (C2SP tlog-checkpoint: SHOULD match). */
const ORIGIN = "deputy.example/audit";
const LOG_SIZE = 64;
/** The same epoch as spec/vectors/tokens (scripts/gen-vectors.ts), in seconds. */
const NOW = 1_750_000_000;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function sha256(...parts: (string | Uint8Array)[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

const b64 = (data: Uint8Array): string => Buffer.from(data).toString("base64");
const hex = (data: Uint8Array): string => Buffer.from(data).toString("hex");
const unhex = (text: string): Buffer => Buffer.from(text, "hex");

/** Lowercase RFC 4648 base32, unpadded: the alphabet of Deputy ids (as in scripts/gen-vectors.ts). */
function base32(bytes: Uint8Array): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

/** A well-formed Deputy id derived from a label (same derivation as scripts/gen-vectors.ts). */
function id(prefix: string, label: string): string {
  return `${prefix}_${base32(sha256(`deputy-vector-id:${label}`).subarray(0, 16))}`;
}

/**
 * RFC 8785 canonical JSON for the values used here (objects, arrays, ASCII strings, safe
 * integers, null): members sorted by key, no whitespace.
 */
function canonical(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k]!)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// The log's entries: shaped like DESIGN §4 entries, but to the tree they are only bytes.

const PRINCIPAL = id("prn", "principal-1");
const AGENTS = [id("agt", "agent-1"), id("agt", "agent-2"), id("agt", "agent-3")];
const ACTIONS = ["token.issued", "token.refused", "agent.created", "grant.created", "broker.call_denied"];

function entryObject(index: number, salt = ""): JsonObject {
  const action = ACTIONS[index % ACTIONS.length]!;
  const agent = AGENTS[index % AGENTS.length]!;
  const refused = action === "token.refused" || action === "broker.call_denied";
  return {
    v: 1,
    index,
    at: new Date((NOW + index) * 1000).toISOString(),
    action,
    actor: { agent, chain: index % 3 === 2 ? [AGENTS[0]!] : [], principal: PRINCIPAL },
    target: agent,
    resource: "https://api.example",
    decision: refused ? "deny" : "allow",
    token_id: action === "token.issued" ? id("tok", `token-${index}`) : null,
    grant_id: id("grt", "grant-1"),
    details: salt === "" ? {} : { note: salt },
  };
}

const entryText = (index: number, salt = ""): string => canonical(entryObject(index, salt));
const bytesOf = (text: string): Buffer => Buffer.from(text, "utf8");

const ENTRIES: string[] = Array.from({ length: LOG_SIZE }, (_, i) => entryText(i));

/** Entry 17 with its decision flipped: the edit an insider would make to hide a refusal. */
function editedEntry17(): string {
  const e = entryObject(17);
  e.decision = e.decision === "allow" ? "deny" : "allow";
  return canonical(e);
}

// ---------------------------------------------------------------------------------------------
// RFC 9162 §2.1, transcribed recursively. D is a list of entries (bytes); D[a:b] is a slice.

const leafHash = (entry: Uint8Array): Buffer => sha256(Buffer.from([0x00]), entry);
const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer => sha256(Buffer.from([0x01]), left, right);

/** k: the largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

class Tree {
  readonly #memo = new Map<string, Buffer>();
  constructor(readonly d: readonly Uint8Array[]) {}

  /** §2.1.1: MTH(D[start:end]). */
  mth(start = 0, end = this.d.length): Buffer {
    const key = `${start}:${end}`;
    const cached = this.#memo.get(key);
    if (cached) return cached;
    const n = end - start;
    let h: Buffer;
    if (n === 0) h = sha256("");
    else if (n === 1) h = leafHash(this.d[start]!);
    else {
      const k = split(n);
      h = nodeHash(this.mth(start, start + k), this.mth(start + k, end));
    }
    this.#memo.set(key, h);
    return h;
  }

  /** §2.1.3.1: PATH(m, D[start:end]). */
  path(m: number, start = 0, end = this.d.length): Buffer[] {
    const n = end - start;
    if (n === 1) return [];
    const k = split(n);
    if (m < k) return [...this.path(m, start, start + k), this.mth(start + k, end)];
    return [...this.path(m - k, start + k, end), this.mth(start, start + k)];
  }

  /** §2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
  proof(m: number, n: number): Buffer[] {
    return this.#subproof(m, 0, n, true);
  }

  #subproof(m: number, start: number, end: number, b: boolean): Buffer[] {
    const n = end - start;
    if (m === n) return b ? [] : [this.mth(start, end)];
    const k = split(n);
    if (m <= k) return [...this.#subproof(m, start, start + k, b), this.mth(start + k, end)];
    return [...this.#subproof(m - k, start + k, end, false), this.mth(start, start + k)];
  }
}

const treeOf = (entries: readonly string[]): Tree => new Tree(entries.map(bytesOf));

// ---------------------------------------------------------------------------------------------
// rfc6962.json: copied from transparency-dev/merkle (Apache-2.0), proof/verify_test.go and
// rfc6962/rfc6962_test.go — the 8-leaf tree of the RFC 6962 reference implementation (the same
// values as google/certificate-transparency's merkle_tree_test.cc). Hex, as in the source.

const RFC6962_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
];
const RFC6962_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
/** `inclusionProofs` of verify_test.go; the source numbers leaves from 1, these indexes from 0. */
const RFC6962_INCLUSION: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { index: 2, size: 3, proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
  {
    index: 1,
    size: 5,
    proof: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
];
/** `consistencyProofs` of verify_test.go. */
const RFC6962_CONSISTENCY: { from: number; to: number; proof: string[] }[] = [
  { from: 1, to: 1, proof: [] },
  {
    from: 1,
    to: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    from: 6,
    to: 8,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    from: 2,
    to: 5,
    proof: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  {
    from: 6,
    to: 7,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
];
/** rfc6962/rfc6962_test.go `TestRFC6962Hasher`. */
const RFC6962_HASHER = {
  empty_tree: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  empty_leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  leaf_L123456: "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
  node_N123_N456: "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
};

/** Refuses to generate anything if this file's Merkle code disagrees with the RFC 6962 vectors. */
function selfCheckRfc6962(): void {
  const fail = (what: string) => {
    throw new Error(`RFC 6962 self-check failed: ${what}`);
  };
  const tree = new Tree(RFC6962_LEAVES.map(unhex));
  RFC6962_ROOTS.forEach((root, i) => {
    if (hex(tree.mth(0, i + 1)) !== root) fail(`root of size ${i + 1}`);
  });
  for (const v of RFC6962_INCLUSION) {
    const sub = new Tree(tree.d.slice(0, v.size));
    if (sub.path(v.index).map(hex).join() !== v.proof.join()) fail(`inclusion ${v.index}/${v.size}`);
  }
  for (const v of RFC6962_CONSISTENCY) {
    if (tree.proof(v.from, v.to).map(hex).join() !== v.proof.join()) fail(`consistency ${v.from}->${v.to}`);
  }
  if (hex(sha256("")) !== RFC6962_HASHER.empty_tree) fail("empty tree");
  if (hex(leafHash(Buffer.alloc(0))) !== RFC6962_HASHER.empty_leaf) fail("empty leaf");
  if (hex(leafHash(Buffer.from("L123456"))) !== RFC6962_HASHER.leaf_L123456) fail("leaf");
  if (hex(nodeHash(Buffer.from("N123"), Buffer.from("N456"))) !== RFC6962_HASHER.node_N123_N456) fail("node");
}

function rfc6962Vectors(): JsonObject {
  return {
    description:
      "The RFC 6962 reference vectors: the 8-leaf tree of the Certificate Transparency reference implementation. " +
      "Copied verbatim (hex, as in the source) from transparency-dev/merkle: proof/verify_test.go " +
      "(leaves, roots, inclusionProofs, consistencyProofs) and rfc6962/rfc6962_test.go (TestRFC6962Hasher). " +
      "The source numbers inclusion leaves from 1; `index` here is 0-based.",
    source: [
      "https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go",
      "https://github.com/transparency-dev/merkle/blob/main/rfc6962/rfc6962_test.go",
    ],
    hasher: {
      description:
        "empty_tree = SHA-256(''); empty_leaf = SHA-256(0x00); leaf_L123456 = SHA-256(0x00 || 'L123456'); " +
        "node_N123_N456 = SHA-256(0x01 || 'N123' || 'N456')",
      ...RFC6962_HASHER,
    },
    leaves: RFC6962_LEAVES,
    roots: RFC6962_ROOTS.map((root, i) => ({ size: i + 1, root })),
    inclusion: RFC6962_INCLUSION,
    consistency: RFC6962_CONSISTENCY,
  };
}

// ---------------------------------------------------------------------------------------------
// Inclusion and consistency over the 64-entry log

function inclusionIndexes(size: number): number[] {
  if (size <= 16) return Array.from({ length: size }, (_, i) => i);
  return [...new Set([0, Math.floor((size - 1) / 2), size - 1])];
}

function inclusionVectors(): JsonObject {
  const tree = treeOf(ENTRIES);
  const trees: Json[] = [];
  for (let size = 1; size <= LOG_SIZE; size++) {
    const sub = new Tree(tree.d.slice(0, size));
    trees.push({
      size,
      root: b64(tree.mth(0, size)),
      proofs: inclusionIndexes(size).map((index) => ({ index, hashes: sub.path(index).map(b64) })),
    });
  }
  return {
    description:
      "RFC 9162 §2.1.3 inclusion proofs in the trees of the first `size` entries, for every size 1..64: " +
      "every index for sizes up to 16, the first, middle (floor((size-1)/2)) and last index above. " +
      "An entry's bytes are the UTF-8 encoding of its string (RFC 8785 canonical JSON). Hashes are base64.",
    hash: "leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right), empty tree = SHA-256('')",
    entries: ENTRIES,
    leaf_hashes: tree.d.map((e) => b64(leafHash(e))),
    trees,
  };
}

function consistencyVectors(): JsonObject {
  const tree = treeOf(ENTRIES);
  const vectors: Json[] = [];
  for (let to = 1; to <= LOG_SIZE; to++) {
    for (let from = 1; from <= to; from++) {
      vectors.push({ from, to, hashes: tree.proof(from, to).map(b64) });
    }
  }
  return {
    description:
      "RFC 9162 §2.1.4 consistency proofs between the trees of the first `from` and first `to` entries of " +
      "inclusion.json, for every pair 1 <= from <= to <= 64 (2080 pairs; from = to has an empty proof). " +
      "`roots[size - 1]` is the root of the tree of `size` entries. Hashes are base64.",
    roots: Array.from({ length: LOG_SIZE }, (_, i) => b64(tree.mth(0, i + 1))),
    vectors,
  };
}

// ---------------------------------------------------------------------------------------------
// Keys, checkpoints and signed notes (C2SP signed-note, tlog-checkpoint)

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

interface NoteKey {
  name: string;
  label: string;
  seed: Buffer;
  publicKey: Buffer;
  keyHash: Buffer;
  privateKey: KeyObject;
}

/** c2sp.org/signed-note: key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]. */
function noteKey(name: string, label: string): NoteKey {
  const seed = sha256(`deputy-vector-${label}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const { x } = createPublicKey(privateKey).export({ format: "jwk" }) as { x: string };
  const publicKey = Buffer.from(x, "base64url");
  const keyHash = sha256(name, Buffer.from([0x0a, 0x01]), publicKey).subarray(0, 4);
  return { name, label, seed, publicKey, keyHash, privateKey };
}

const verifierKey = (k: NoteKey): string =>
  `${k.name}+${hex(k.keyHash)}+${b64(Buffer.concat([Buffer.from([0x01]), k.publicKey]))}`;
const signerKey = (k: NoteKey): string =>
  `PRIVATE+KEY+${k.name}+${hex(k.keyHash)}+${b64(Buffer.concat([Buffer.from([0x01]), k.seed]))}`;

/** One signature line: em dash, space, key name, space, base64(key ID || Ed25519 signature), newline. */
function signatureLine(text: string, key: NoteKey, name = key.name): string {
  const signature = sign(null, Buffer.from(text, "utf8"), key.privateKey);
  return `\u2014 ${name} ${b64(Buffer.concat([key.keyHash, signature]))}\n`;
}

/** A signed note: the text (ending in a newline), a blank line, the signature lines. */
const signNote = (text: string, ...keys: NoteKey[]): string =>
  `${text}\n${keys.map((k) => signatureLine(text, k)).join("")}`;

const LOG_KEY = noteKey(ORIGIN, "audit-log-1");
const ATTACKER_KEY = noteKey(ORIGIN, "audit-attacker-1");
const WITNESS_KEY = noteKey("witness.example/w1", "audit-witness-1");

const checkpointText = (origin: string, size: number, root: Uint8Array | string, extensions: string[] = []) =>
  [origin, String(size), typeof root === "string" ? root : b64(root), ...extensions]
    .map((l) => `${l}\n`)
    .join("");

/** The honest log's signed checkpoint at `size`. */
function checkpoint(size: number, entries: readonly string[] = ENTRIES): string {
  return signNote(checkpointText(ORIGIN, size, treeOf(entries).mth(0, size)), LOG_KEY);
}

function keyJson(k: NoteKey, withSigner: boolean): JsonObject {
  return {
    name: k.name,
    seed_label: `deputy-vector-${k.label}`,
    public_key: b64(k.publicKey),
    key_hash: hex(k.keyHash),
    verifier_key: verifierKey(k),
    ...(withSigner ? { signer_key: signerKey(k) } : {}),
  };
}

function checkpointVectors(): JsonObject {
  const tree = treeOf(ENTRIES);
  const valid = (
    name: string,
    description: string,
    note: string,
    size: number,
    extensions: string[] = [],
  ) => ({
    name,
    description,
    note,
    expect: { valid: true, origin: ORIGIN, size, root: b64(tree.mth(0, size)), extensions },
  });
  const vectors: Json[] = [0, 1, 2, 3, 7, 8, 13, 31, 32, 33, 63, 64].map((size) =>
    valid(
      `size-${size}`,
      size === 0
        ? "The empty log: size 0, root SHA-256('')."
        : `The log's checkpoint over the first ${size} entries of inclusion.json.`,
      checkpoint(size),
      size,
    ),
  );
  const body64 = checkpointText(ORIGIN, 64, tree.mth(0, 64));
  vectors.push(
    valid(
      "with-extension-line",
      "C2SP tlog-checkpoint allows opaque, non-empty extension lines after the root; they are returned, not interpreted.",
      signNote(checkpointText(ORIGIN, 64, tree.mth(0, 64), ["deputy-extension 1"]), LOG_KEY),
      64,
      ["deputy-extension 1"],
    ),
    {
      ...valid(
        "with-unknown-cosignature",
        "A second signature by a key the client does not know (a witness cosigning). C2SP signed-note: " +
          "verifiers MUST ignore signatures from unknown keys, so the note verifies.",
        signNote(body64, LOG_KEY, WITNESS_KEY),
        64,
      ),
      signatures: [
        { name: ORIGIN, key_hash: hex(LOG_KEY.keyHash), verified: true },
        { name: WITNESS_KEY.name, key_hash: hex(WITNESS_KEY.keyHash), verified: false },
      ],
    },
  );
  return {
    description:
      "Signed checkpoints of the log of inclusion.json: C2SP tlog-checkpoint text in a C2SP signed-note with " +
      "one Ed25519 signature. Verify each `note` with `log_key.verifier_key` and origin `origin`; the result " +
      "is `expect`. Signing the note's text with `log_key.signer_key` reproduces the note byte for byte " +
      "(Ed25519 is deterministic). The keys sign nothing but vectors; their seeds are public on purpose.",
    origin: ORIGIN,
    log_key: keyJson(LOG_KEY, true),
    witness_key: keyJson(WITNESS_KEY, false),
    vectors,
  };
}

// ---------------------------------------------------------------------------------------------
// signed-note.json: golang.org/x/mod/sumdb/note's own test vectors (BSD-3-Clause), note_test.go

const GO_PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_PETER_SIG =
  "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const GO_ENOCH_SIG =
  "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

function signedNoteVectors(): JsonObject {
  const peter = { name: "PeterNeumann", key_hash: "c74f20a3" };
  const enoch = { name: "EnochRoot", key_hash: "af0cfe78" };
  const ok = (signatures: JsonObject[]) => ({ valid: true, text: GO_TEXT, signatures });
  const refused = (code: string) => ({ valid: false, code });
  const open = (name: string, description: string, note: string, keys: string[], expect: Json) => ({
    name,
    description,
    note,
    verifier_keys: keys,
    expect,
  });
  const sig60 = (sig: string) => `${sig.slice(0, 60)}ABCD${sig.slice(60)}`;
  const note = `${GO_TEXT}\n${GO_PETER_SIG}`;
  return {
    description:
      "golang.org/x/mod/sumdb/note's test vectors (note_test.go: TestNewVerifier, TestSign, TestOpen), " +
      "which pin C2SP signed-note byte for byte. `open` vectors: open `note` with `verifier_keys`; " +
      "the result lists verified signatures first, then ignored ones from unknown keys, in note order. " +
      "`sign` vectors: signing `text` with `signer_key` gives exactly `note`. `verifier_key` vectors must be refused.",
    source: "https://cs.opensource.google/go/x/mod/+/master:sumdb/note/note_test.go",
    sign: [
      {
        name: "go-sign",
        description: "TestSign: the PeterNeumann key signs the two-line text.",
        signer_key: GO_PETER_SKEY,
        verifier_key: GO_PETER_VKEY,
        text: GO_TEXT,
        note,
      },
    ],
    open: [
      open(
        "go-open-one-known",
        "TestOpen: Peter's signature verifies; Enoch's key is unknown, so his signature is ignored.",
        `${GO_TEXT}\n${GO_PETER_SIG}${GO_ENOCH_SIG}`,
        [GO_PETER_VKEY],
        ok([
          { ...peter, verified: true },
          { ...enoch, verified: false },
        ]),
      ),
      open(
        "go-open-both-known",
        "TestOpen: both signatures verify.",
        `${GO_TEXT}\n${GO_PETER_SIG}${GO_ENOCH_SIG}`,
        [GO_PETER_VKEY, GO_ENOCH_VKEY],
        ok([
          { ...peter, verified: true },
          { ...enoch, verified: true },
        ]),
      ),
      open(
        "go-open-none-known",
        "TestOpen: no signature by a known key, so the note is refused (Go: UnverifiedNoteError).",
        `${GO_TEXT}\n${GO_PETER_SIG}${GO_ENOCH_SIG}`,
        [],
        refused("ERR_AUDIT_UNKNOWN_KEY"),
      ),
      open(
        "go-open-ambiguous-keys",
        "TestOpen: two given keys share name and key ID (Go: 'ambiguous key').",
        `${GO_TEXT}\n${GO_ENOCH_SIG}`,
        [GO_ENOCH_VKEY, GO_PETER_VKEY, GO_ENOCH_VKEY],
        refused("ERR_AUDIT_BAD_KEY"),
      ),
      open(
        "go-open-too-many-signatures",
        "TestOpen: 101 signature lines exceed the limit of 100 (Go: 'malformed note').",
        `${GO_TEXT}\n${GO_PETER_SIG.repeat(101)}`,
        [GO_PETER_VKEY],
        refused("ERR_AUDIT_MALFORMED_NOTE"),
      ),
      open(
        "go-open-invalid-signature",
        "TestOpen: 'ABCD' inserted into Peter's signature; a known key's bad signature rejects the note.",
        `${GO_TEXT}\n${sig60(GO_PETER_SIG)}`,
        [GO_PETER_VKEY],
        refused("ERR_AUDIT_BAD_SIGNATURE"),
      ),
      open(
        "go-open-duplicates",
        "TestOpen: repeated signatures are reported once; Enoch's (unknown) signature and a corrupted copy " +
          "are both ignored, not checked.",
        `${GO_TEXT}\n${GO_PETER_SIG}${GO_PETER_SIG}${GO_ENOCH_SIG}${GO_ENOCH_SIG}${sig60(GO_ENOCH_SIG)}`,
        [GO_PETER_VKEY],
        ok([
          { ...peter, verified: true },
          { ...enoch, verified: false },
          { ...enoch, verified: false },
        ]),
      ),
      ...[
        ["no-signatures", GO_TEXT],
        ["blank-line-only", `${GO_TEXT}\n`],
        ["signature-without-newline", `${GO_TEXT}\n${GO_PETER_SIG.slice(0, -1)}`],
        ["control-character", `\u0001${GO_TEXT}\n${GO_PETER_SIG}`],
        ["space-in-key-name", `${GO_TEXT}\n\u2014 Bad Name ${GO_PETER_SIG.split(" ")[2]!.trimEnd()}`],
        ["unexpected-line", `${GO_TEXT}\n${GO_PETER_SIG}Unexpected line.\n`],
      ].map(([name, msg]) =>
        open(
          `go-open-malformed-${name}`,
          "TestOpen badMsgs (Go: 'malformed note').",
          msg!,
          [GO_PETER_VKEY],
          refused("ERR_AUDIT_MALFORMED_NOTE"),
        ),
      ),
      open(
        "go-open-renamed-signature",
        "TestOpen: Peter's signature line renamed to CarmenSandiego; name and key ID must both match a " +
          "known key, so it is an unknown key's signature and nothing verifies.",
        `${GO_TEXT}\n${GO_PETER_SIG.replace("PeterNeumann", "CarmenSandiego")}`,
        [GO_PETER_VKEY],
        refused("ERR_AUDIT_UNKNOWN_KEY"),
      ),
      open(
        "go-open-wrong-key-hash",
        "TestOpen: the key ID bytes of Peter's signature altered ('x08g' -> 'xxxx').",
        `${GO_TEXT}\n${GO_PETER_SIG.replace("x08g", "xxxx")}`,
        [GO_PETER_VKEY],
        refused("ERR_AUDIT_UNKNOWN_KEY"),
      ),
    ],
    verifier_keys: [
      { name: "go-peter", verifier_key: GO_PETER_VKEY, expect: { valid: true, ...peter } },
      { name: "go-enoch", verifier_key: GO_ENOCH_VKEY, expect: { valid: true, ...enoch } },
      {
        name: "go-wrong-length-key",
        description: "TestNewVerifier: a 33-byte key with an adjusted key hash.",
        verifier_key: "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        expect: refused("ERR_AUDIT_BAD_KEY"),
      },
      {
        name: "go-unknown-algorithm",
        description: "TestNewVerifier: signature type byte other than 0x01, with an adjusted key hash.",
        verifier_key: "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        expect: refused("ERR_AUDIT_BAD_KEY"),
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// attacks.json

function swap<T>(list: readonly T[], i: number, j: number): T[] {
  const out = [...list];
  [out[i], out[j]] = [out[j]!, out[i]!];
  return out;
}

/** A fresh entry that was never in the honest log (for insertions and rewritten tails). */
const foreignEntry = (index: number, label: string): string => entryText(index, `forged:${label}`);

function flipBit(text: string, byte: number): string {
  const raw = Buffer.from(text, "base64");
  raw[byte] = raw[byte]! ^ 0x01;
  return b64(raw);
}

/** Replaces the base64 of the (single) signature line of `note`. */
function mapSignature(note: string, f: (raw: Buffer) => Buffer, name?: string): string {
  const at = note.lastIndexOf("\n\u2014 ");
  const [dash, keyName, sig] = note.slice(at + 1, -1).split(" ") as [string, string, string];
  return `${note.slice(0, at + 1)}${dash} ${name ?? keyName} ${b64(f(Buffer.from(sig, "base64")))}\n`;
}

function attackVectors(): JsonObject {
  const honest = treeOf(ENTRIES);
  const root64 = honest.mth(0, 64);
  const c64 = checkpoint(64);
  const cp = (note: string) => ({ note });
  const head = (size: number, entries: readonly string[] = ENTRIES) => ({
    size,
    root: b64(treeOf(entries).mth(0, size)),
    note: checkpoint(size, entries),
  });
  const code = (c: string) => ({ valid: false, code: c });
  const signed = (body: string) => signNote(body, LOG_KEY);

  const edited = ENTRIES.map((e, i) => (i === 17 ? editedEntry17() : e));
  const reordered = swap(ENTRIES, 20, 21);
  const inserted = [...ENTRIES.slice(0, 30), foreignEntry(30, "inserted"), ...ENTRIES.slice(30)];
  const regrown = [
    ...ENTRIES.slice(0, 48),
    ...Array.from({ length: 24 }, (_, i) => foreignEntry(48 + i, "regrown")),
  ];
  const forked = ENTRIES.map((e, i) => (i === 63 ? foreignEntry(63, "fork") : e));

  const proof5 = honest.path(5).map(b64);
  const vectors: Json[] = [
    // --- One entry against a proof and a trusted root (GET entries/{i} + proofs/inclusion)
    {
      name: "edited-entry",
      description:
        "Entry 17 was edited in storage (its decision flipped); the server serves the edited bytes with the " +
        "honest proof. The proof leads to another root.",
      kind: "inclusion",
      input: {
        entry: editedEntry17(),
        index: 17,
        size: 64,
        hashes: honest.path(17).map(b64),
        root: b64(root64),
      },
      expect: code("ERR_AUDIT_ROOT_MISMATCH"),
    },
    {
      name: "reordered-entries",
      description: "Entries 20 and 21 were swapped in storage: entry 21's bytes are served as entry 20.",
      kind: "inclusion",
      input: {
        entry: ENTRIES[21]!,
        index: 20,
        size: 64,
        hashes: honest.path(20).map(b64),
        root: b64(root64),
      },
      expect: code("ERR_AUDIT_ROOT_MISMATCH"),
    },
    {
      name: "tampered-proof",
      description: "One bit of the third hash of entry 5's inclusion proof flipped.",
      kind: "inclusion",
      input: {
        entry: ENTRIES[5]!,
        index: 5,
        size: 64,
        hashes: proof5.map((h, i) => (i === 2 ? flipBit(h, 0) : h)),
        root: b64(root64),
      },
      expect: code("ERR_AUDIT_ROOT_MISMATCH"),
    },
    {
      name: "truncated-proof",
      description: "Entry 5's inclusion proof without its last hash (RFC 9162 §2.1.3.2 step 5: sn is not 0).",
      kind: "inclusion",
      input: { entry: ENTRIES[5]!, index: 5, size: 64, hashes: proof5.slice(0, -1), root: b64(root64) },
      expect: code("ERR_AUDIT_BAD_PROOF"),
    },
    {
      name: "extended-proof",
      description:
        "Entry 5's inclusion proof with the root appended (RFC 9162 §2.1.3.2 step 4a: sn reaches 0).",
      kind: "inclusion",
      input: { entry: ENTRIES[5]!, index: 5, size: 64, hashes: [...proof5, b64(root64)], root: b64(root64) },
      expect: code("ERR_AUDIT_BAD_PROOF"),
    },
    {
      name: "index-beyond-size",
      description: "index = size (RFC 9162 §2.1.3.2 step 1).",
      kind: "inclusion",
      input: { entry: ENTRIES[63]!, index: 64, size: 64, hashes: proof5, root: b64(root64) },
      expect: code("ERR_AUDIT_BAD_RANGE"),
    },
    // --- Every entry against a signed checkpoint (deputy audit verify)
    ...(
      [
        [
          "edited-entry-full-log",
          "Entry 17 edited; the whole log is re-hashed against the honest checkpoint.",
          edited,
        ],
        ["reordered-entries-full-log", "Entries 20 and 21 swapped; the whole log is re-hashed.", reordered],
        [
          "inserted-entry-full-log",
          "An entry inserted at index 30, shifting the rest; the first 64 entries no longer hash to the root.",
          inserted,
        ],
        [
          "truncated-log",
          "The last four entries were deleted: 60 entries are served against the checkpoint of 64.",
          ENTRIES.slice(0, 60),
        ],
      ] as const
    ).map(([name, description, entries]) => ({
      name,
      description,
      kind: "log",
      input: { entries: [...entries], checkpoint: c64 },
      expect: code("ERR_AUDIT_ROOT_MISMATCH"),
    })),
    // --- A witness that kept an earlier checkpoint sees a new one (the log key is the operator's)
    {
      name: "truncated-and-regrown-log",
      description:
        "The operator deleted entries 48..63, appended 24 others and signed a checkpoint of 72 with the log's " +
        "own key. The consistency proof from the witnessed 64 to 72 (computed over the rewritten log) fails.",
      kind: "witness",
      input: { previous: head(64), next: head(72, regrown), hashes: treeOf(regrown).proof(64, 72).map(b64) },
      expect: code("ERR_AUDIT_INCONSISTENT"),
    },
    {
      name: "inserted-entry",
      description:
        "The operator inserted an entry at index 30 and signed a checkpoint of 65 with the log's own key.",
      kind: "witness",
      input: {
        previous: head(64),
        next: head(65, inserted),
        hashes: treeOf(inserted).proof(64, 65).map(b64),
      },
      expect: code("ERR_AUDIT_INCONSISTENT"),
    },
    {
      name: "reordered-entries-resigned",
      description:
        "The operator swapped entries 20 and 21 and re-signed the checkpoint of 64; the witness holds the one of 32.",
      kind: "witness",
      input: {
        previous: head(32),
        next: head(64, reordered),
        hashes: treeOf(reordered).proof(32, 64).map(b64),
      },
      expect: code("ERR_AUDIT_INCONSISTENT"),
    },
    {
      name: "edited-entry-resigned",
      description:
        "The operator edited entry 17 and re-signed a checkpoint of the same size: two signed roots for 64.",
      kind: "witness",
      input: { previous: head(64), next: head(64, edited), hashes: [] },
      expect: code("ERR_AUDIT_FORK"),
    },
    {
      name: "forked-checkpoints",
      description:
        "Split view: two checkpoints of size 64, both validly signed by the log key, whose last entries differ.",
      kind: "witness",
      input: { previous: head(64), next: head(64, forked), hashes: [] },
      expect: code("ERR_AUDIT_FORK"),
    },
    {
      name: "rollback",
      description: "A validly signed but older checkpoint (48) after the witness saw 64.",
      kind: "witness",
      input: { previous: head(64), next: head(48), hashes: [] },
      expect: code("ERR_AUDIT_ROLLBACK"),
    },
    {
      name: "tampered-consistency-proof",
      description: "The honest consistency proof from 32 to 64 with one bit flipped in its first hash.",
      kind: "witness",
      input: {
        previous: head(32),
        next: head(64),
        hashes: honest.proof(32, 64).map((h, i) => (i === 0 ? flipBit(b64(h), 31) : b64(h))),
      },
      expect: code("ERR_AUDIT_INCONSISTENT"),
    },
    // --- Checkpoint notes
    {
      name: "bad-signature",
      description: "The checkpoint of 64 with one bit of its Ed25519 signature flipped.",
      kind: "checkpoint",
      input: cp(
        mapSignature(c64, (raw) =>
          Buffer.concat([raw.subarray(0, 10), Buffer.from([raw[10]! ^ 1]), raw.subarray(11)]),
        ),
      ),
      expect: code("ERR_AUDIT_BAD_SIGNATURE"),
    },
    {
      name: "edited-checkpoint-body",
      description: "The checkpoint of 64 with its size line changed to 65 and the original signature kept.",
      kind: "checkpoint",
      input: cp(c64.replace(`${ORIGIN}\n64\n`, `${ORIGIN}\n65\n`)),
      expect: code("ERR_AUDIT_BAD_SIGNATURE"),
    },
    {
      name: "wrong-key-name",
      description:
        "The log's valid signature under another key name (same key ID and signature bytes). Name and key ID " +
        "must both match a known key (C2SP signed-note), so no known key signed the note.",
      kind: "checkpoint",
      input: cp(mapSignature(c64, (raw) => raw, `${ORIGIN}-2`)),
      expect: code("ERR_AUDIT_UNKNOWN_KEY"),
    },
    {
      name: "wrong-key-hash",
      description: "The log's key name with the key ID bytes of the signature altered.",
      kind: "checkpoint",
      input: cp(mapSignature(c64, (raw) => Buffer.concat([Buffer.from([raw[0]! ^ 0xff]), raw.subarray(1)]))),
      expect: code("ERR_AUDIT_UNKNOWN_KEY"),
    },
    {
      name: "signed-by-unknown-key",
      description: "A checkpoint signed under the log's name by another Ed25519 key (audit-attacker-1).",
      kind: "checkpoint",
      input: cp(signNote(checkpointText(ORIGIN, 64, root64), ATTACKER_KEY)),
      expect: code("ERR_AUDIT_UNKNOWN_KEY"),
    },
    {
      name: "wrong-origin",
      description: "Validly signed by the log key, but for origin 'deputy.example/other-log'.",
      kind: "checkpoint",
      input: cp(signed(checkpointText("deputy.example/other-log", 64, root64))),
      expect: code("ERR_AUDIT_WRONG_ORIGIN"),
    },
    {
      name: "empty-tree-wrong-root",
      description: "Validly signed size 0 whose root is not SHA-256('') (RFC 9162 §2.1.1: MTH({}) = HASH()).",
      kind: "checkpoint",
      input: cp(signed(checkpointText(ORIGIN, 0, root64))),
      expect: code("ERR_AUDIT_ROOT_MISMATCH"),
    },
    ...(
      [
        [
          "leading-zeros",
          "size '064' (tlog-checkpoint: no leading zeroes)",
          checkpointText(ORIGIN, 64, root64).replace("\n64\n", "\n064\n"),
        ],
        ["plus-sign-size", "size '+64'", checkpointText(ORIGIN, 64, root64).replace("\n64\n", "\n+64\n")],
        ["negative-size", "size '-1'", checkpointText(ORIGIN, 64, root64).replace("\n64\n", "\n-1\n")],
        [
          "size-too-large",
          "size 2^53, beyond what Deputy accepts (2^53 - 1)",
          checkpointText(ORIGIN, 2 ** 53, root64),
        ],
        ["non-base64-root", "root line 'not base64!'", checkpointText(ORIGIN, 64, "not base64!")],
        [
          "unpadded-root",
          "root without its '=' padding (RFC 4648 §4 requires it)",
          checkpointText(ORIGIN, 64, b64(root64).replace(/=+$/, "")),
        ],
        ["short-root", "root of 31 bytes", checkpointText(ORIGIN, 64, root64.subarray(0, 31))],
        ["missing-root-line", "only origin and size", `${ORIGIN}\n64\n`],
        ["empty-origin", "empty first line", checkpointText("", 64, root64)],
        [
          "empty-extension-line",
          "a blank line after the root (extension lines MUST be non-empty)",
          `${checkpointText(ORIGIN, 64, root64)}\n`,
        ],
      ] as const
    ).map(([name, what, body]) => ({
      name: `malformed-checkpoint-${name}`,
      description: `Validly signed by the log key, but the body is not a tlog-checkpoint: ${what}.`,
      kind: "checkpoint",
      input: cp(signed(body)),
      expect: code("ERR_AUDIT_MALFORMED_CHECKPOINT"),
    })),
    {
      name: "malformed-checkpoint-missing-newline",
      description:
        "A checkpoint body whose last line has no newline. A signed note cannot carry such a text (its text " +
        "always ends in a newline), so this vector is for the body parser alone.",
      kind: "checkpoint-body",
      input: { body: checkpointText(ORIGIN, 64, root64).slice(0, -1) },
      expect: code("ERR_AUDIT_MALFORMED_CHECKPOINT"),
    },
    {
      name: "malformed-note-missing-final-newline",
      description: "The checkpoint of 64 without the newline that ends its signature line.",
      kind: "checkpoint",
      input: cp(c64.slice(0, -1)),
      expect: code("ERR_AUDIT_MALFORMED_NOTE"),
    },
    {
      name: "malformed-note-no-blank-line",
      description: "The checkpoint of 64 without the blank line between text and signatures.",
      kind: "checkpoint",
      input: cp(c64.replace("\n\n\u2014", "\n\u2014")),
      expect: code("ERR_AUDIT_MALFORMED_NOTE"),
    },
    {
      name: "malformed-note-crlf",
      description:
        "The checkpoint of 64 with CRLF line endings (signed-note forbids control characters but LF).",
      kind: "checkpoint",
      input: cp(c64.replaceAll("\n", "\r\n")),
      expect: code("ERR_AUDIT_MALFORMED_NOTE"),
    },
    {
      name: "malformed-note-hyphen-instead-of-em-dash",
      description: "The signature line starts with '- ' instead of the em dash U+2014.",
      kind: "checkpoint",
      input: cp(c64.replace("\n\u2014 ", "\n- ")),
      expect: code("ERR_AUDIT_MALFORMED_NOTE"),
    },
    // --- Verifier keys
    {
      name: "verifier-key-renamed",
      description:
        "The log's verifier key with its name changed but not its key ID: the ID binds name and key, so it no " +
        "longer matches.",
      kind: "verifier-key",
      input: { verifier_key: verifierKey(LOG_KEY).replace(ORIGIN, "deputy.example/other-log") },
      expect: code("ERR_AUDIT_BAD_KEY"),
    },
    {
      name: "verifier-key-wrong-type",
      description:
        "The log's key with signature type 0x02 (ECDSA) and a matching key ID: only Ed25519 (0x01) is accepted.",
      kind: "verifier-key",
      input: {
        verifier_key: `${ORIGIN}+${hex(sha256(ORIGIN, Buffer.from([0x0a, 0x02]), LOG_KEY.publicKey).subarray(0, 4))}+${b64(Buffer.concat([Buffer.from([0x02]), LOG_KEY.publicKey]))}`,
      },
      expect: code("ERR_AUDIT_BAD_KEY"),
    },
  ];
  return {
    description:
      "Attacks on the audit log by name, each with the exact error code a verifier must produce. The honest " +
      "log is inclusion.json's 64 entries; checkpoints are signed by checkpoints.json's log key unless a " +
      "vector says otherwise. Kinds: `inclusion` (verify one entry), `log` (verify the checkpoint, then re-hash " +
      "the first `size` entries), `witness` (verify both checkpoint notes, then check `next` against " +
      "`previous` with the consistency proof `hashes`), `checkpoint` (verify a note), `checkpoint-body` (parse " +
      "the body alone), `verifier-key` (parse the key). Entries are UTF-8 strings; hashes and roots base64.",
    origin: ORIGIN,
    verifier_key: verifierKey(LOG_KEY),
    honest_root: b64(root64),
    vectors,
  };
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Vector files by path relative to the repository root, in a fixed order. Pure: writes nothing. */
export function generate(): Record<string, unknown> {
  selfCheckRfc6962();
  return {
    "spec/vectors/audit/rfc6962.json": rfc6962Vectors(),
    "spec/vectors/audit/inclusion.json": inclusionVectors(),
    "spec/vectors/audit/consistency.json": consistencyVectors(),
    "spec/vectors/audit/checkpoints.json": checkpointVectors(),
    "spec/vectors/audit/signed-note.json": signedNoteVectors(),
    "spec/vectors/audit/attacks.json": attackVectors(),
  };
}

/** The exact bytes of a vector file: 2-space JSON, keys in generation order, trailing newline. */
export function serialize(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

const ROOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function main(argv: readonly string[]): number {
  const check = argv.includes("--check");
  let drift = 0;
  for (const [path, value] of Object.entries(generate())) {
    const file = join(ROOT_DIR, path);
    const text = serialize(value);
    let current: string | undefined;
    try {
      current = readFileSync(file, "utf8");
    } catch {
      current = undefined;
    }
    if (current === text) continue;
    if (check) {
      console.error(`drift: ${path} differs from the generator's output`);
      drift++;
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      console.log(`wrote ${path}`);
    }
  }
  if (check && drift > 0) {
    console.error("run `npx tsx scripts/gen-audit-vectors.ts` and review the diff");
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
