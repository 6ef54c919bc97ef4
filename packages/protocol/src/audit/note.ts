/**
 * C2SP signed notes (https://c2sp.org/signed-note, as implemented by golang.org/x/mod/sumdb/note)
 * with Ed25519 keys, over Web Crypto.
 *
 * ```
 * <text, ending in a newline>
 *                                           ← one blank line
 * — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature of the text)>
 * ```
 *
 * - The signature line starts with an em dash (U+2014) and a space. The signed bytes are the text
 *   including its final newline, not the blank line.
 * - Key ID = first 4 bytes, big-endian, of SHA-256(key name || 0x0A || 0x01 || 32-byte public key);
 *   0x01 is the Ed25519 signature type.
 * - Verifier key: `<name>+<8 hex digits of key ID>+<base64(0x01 || public key)>`.
 *   Signer key: `PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || 32-byte seed)>`.
 * - A key name is non-empty, with no Unicode white space and no `+`.
 *
 * Opening a note follows `note.Open`: signatures by keys the caller does not know (name *and* key
 * ID must both match) are listed but ignored, as the spec requires, so witness cosignatures do
 * not break verification; a known key's signature that fails rejects the whole note; a note with
 * no verified signature from a known key is refused. Limits: 1 MiB, 100 signature lines.
 *
 * @example
 * const key = await parseVerifierKey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
 * const { text, signatures } = await openNote(noteBytes, [key]);
 */
import {
  base64Decode,
  base64Encode,
  concatBytes,
  hexEncode,
  ownBytes,
  utf8,
  utf8DecodeStrict,
} from "./encoding.js";
import { AuditVerificationError } from "./errors.js";

/** Largest note accepted by {@link openNote}, in bytes. */
export const MAX_NOTE_BYTES = 1024 * 1024;
/** Most signature lines accepted by {@link openNote} (the spec requires at least 16; Go allows 100). */
export const MAX_NOTE_SIGNATURES = 100;

/** C2SP signed-note signature type of Ed25519. */
const ED25519_TYPE = 0x01;
const ED25519_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
const SIGNATURE_PREFIX = "\u2014 ";
// RFC 8410 PKCS#8 wrapping of a raw Ed25519 seed, the only private-key import Web Crypto allows.
const PKCS8_ED25519_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** A public key that may verify note signatures, as parsed from a verifier key string. */
export interface VerifierKey {
  readonly name: string;
  /** The 32-bit key ID (uint32). */
  readonly keyHash: number;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

/** What {@link signNote} needs: the key's name, its private key, and its raw public key. */
export interface NoteSigner {
  readonly name: string;
  /** An Ed25519 private `CryptoKey` with usage `sign`. */
  readonly privateKey: CryptoKey;
  /** The matching raw 32-byte public key (it determines the key ID). */
  readonly publicKeyRaw: Uint8Array;
}

export interface NoteSignature {
  readonly name: string;
  readonly keyHash: number;
  /** True for a signature verified by one of the given keys; false for an unknown key's (ignored). */
  readonly verified: boolean;
}

export interface OpenedNote {
  /** The signed text, final newline included. Meaningful only because a known key signed it. */
  readonly text: string;
  /** Verified signatures, then unknown ones, in note order within each group, duplicates dropped. */
  readonly signatures: readonly NoteSignature[];
}

const malformedNote = (reason: string) =>
  new AuditVerificationError("ERR_AUDIT_MALFORMED_NOTE", `malformed note: ${reason}`);
const badKey = (reason: string) =>
  new AuditVerificationError("ERR_AUDIT_BAD_KEY", `invalid note key: ${reason}`);

/**
 * C2SP signed-note: key names are non-empty and contain no Unicode spaces (Go's `unicode.IsSpace`,
 * the White_Space property) and no `+`. Control characters and lone surrogates (not UTF-8) are
 * refused too, since no valid note can carry them.
 *
 * @example
 * isValidKeyName("deputy.example/audit"); // true
 * isValidKeyName("Bad Name");             // false
 */
export function isValidKeyName(name: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused
  return typeof name === "string" && name.length > 0 && !/[\p{White_Space}+\u0000-\u001f]|\p{Cs}/u.test(name);
}

const keyIdFormat = (keyHash: number) => keyHash.toString(16).padStart(8, "0");

/**
 * The C2SP signed-note key ID of an Ed25519 key:
 * SHA-256(name || 0x0A || 0x01 || public key)[:4], as a big-endian uint32.
 *
 * @example
 * await ed25519KeyHash("PeterNeumann", publicKey); // 0xc74f20a3
 */
export async function ed25519KeyHash(name: string, publicKeyRaw: Uint8Array): Promise<number> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    concatBytes(utf8(name), new Uint8Array([0x0a, ED25519_TYPE]), publicKeyRaw),
  );
  return new DataView(digest).getUint32(0, false);
}

/**
 * Parses and checks a verifier key `<name>+<hex key ID>+<base64(0x01 || 32-byte key)>`: valid
 * name, 8 hex digits, Ed25519 type, 32-byte key, and a key ID that matches name and key (so a
 * key string cannot be renamed). Throws ERR_AUDIT_BAD_KEY.
 *
 * @example
 * const key = await parseVerifierKey(metadata.audit_log_public_key);
 */
export async function parseVerifierKey(vkey: string): Promise<VerifierKey> {
  if (typeof vkey !== "string" || vkey.length > 1024) throw badKey("not a verifier key string");
  const [name, hash16, key64] = splitKey(vkey, 3);
  if (name === undefined || hash16 === undefined || key64 === undefined) {
    throw badKey("expected <name>+<key ID>+<key>");
  }
  if (!isValidKeyName(name)) throw badKey("invalid key name");
  if (!/^[0-9a-fA-F]{8}$/.test(hash16)) throw badKey("the key ID is not 8 hex digits");
  const key = base64Decode(key64);
  if (key === null || key.length === 0) throw badKey("the key is not base64");
  if (key[0] !== ED25519_TYPE) throw badKey(`unknown signature type 0x${hexEncode(key.subarray(0, 1))}`);
  if (key.length !== 1 + ED25519_KEY_SIZE) throw badKey("an Ed25519 key is 32 bytes");
  const publicKey = key.slice(1);
  const keyHash = Number.parseInt(hash16, 16);
  if (keyHash !== (await ed25519KeyHash(name, publicKey))) {
    throw badKey(`the key ID ${hash16} does not match the key name and public key`);
  }
  return Object.freeze({ name, keyHash, publicKey });
}

/**
 * Splits `<a>+<b>+…+<rest>` at the first `parts − 1` plus signs, like Go's `chop`: the last part
 * keeps any further `+` (base64 uses it).
 */
function splitKey(text: string, parts: number): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  let rest = text;
  for (let i = 0; i < parts - 1; i++) {
    const at = rest.indexOf("+");
    if (at < 0) return out;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

/**
 * The verifier key string of an Ed25519 public key: what Deputy publishes as
 * `audit_log_public_key`. Throws ERR_AUDIT_BAD_KEY for an invalid name or a key that is not 32
 * bytes.
 *
 * @example
 * await formatVerifierKey("deputy.example/audit", publicKeyRaw); // "deputy.example/audit+1a2b3c4d+AV…"
 */
export async function formatVerifierKey(name: string, publicKeyRaw: Uint8Array): Promise<string> {
  if (!isValidKeyName(name)) throw badKey("invalid key name");
  if (!(publicKeyRaw instanceof Uint8Array) || publicKeyRaw.length !== ED25519_KEY_SIZE) {
    throw badKey("an Ed25519 public key is 32 bytes");
  }
  const keyHash = await ed25519KeyHash(name, publicKeyRaw);
  const key = concatBytes(new Uint8Array([ED25519_TYPE]), publicKeyRaw);
  return `${name}+${keyIdFormat(keyHash)}+${base64Encode(key)}`;
}

/**
 * Parses a signer key `PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || 32-byte seed)>` into a
 * {@link NoteSigner} (its `CryptoKey` is not extractable). Checks that the key ID matches the
 * derived public key. Throws ERR_AUDIT_BAD_KEY. Signer keys are secrets: load them from secret
 * storage, never log them.
 *
 * @example
 * const signer = await parseSignerKey(process.env.DEPUTY_AUDIT_SIGNER_KEY!);
 * const note = await signNote(formatCheckpoint(head), signer);
 */
export async function parseSignerKey(skey: string): Promise<NoteSigner> {
  if (typeof skey !== "string" || skey.length > 1024) throw badKey("not a signer key string");
  const [private1, private2, name, hash16, key64] = splitKey(skey, 5);
  if (
    private1 !== "PRIVATE" ||
    private2 !== "KEY" ||
    name === undefined ||
    hash16 === undefined ||
    key64 === undefined
  ) {
    throw badKey("expected PRIVATE+KEY+<name>+<key ID>+<key>");
  }
  if (!isValidKeyName(name)) throw badKey("invalid key name");
  if (!/^[0-9a-fA-F]{8}$/.test(hash16)) throw badKey("the key ID is not 8 hex digits");
  const key = base64Decode(key64);
  if (key === null || key.length === 0) throw badKey("the key is not base64");
  if (key[0] !== ED25519_TYPE) throw badKey("unknown signature type");
  if (key.length !== 1 + ED25519_KEY_SIZE) throw badKey("an Ed25519 seed is 32 bytes");
  const seed = key.subarray(1);
  let jwk: JsonWebKey;
  try {
    // Import once as extractable only to learn the public key (`x`), then re-import without it.
    const extractable = await crypto.subtle.importKey(
      "pkcs8",
      concatBytes(PKCS8_ED25519_PREFIX, seed),
      { name: "Ed25519" },
      true,
      ["sign"],
    );
    jwk = await crypto.subtle.exportKey("jwk", extractable);
  } catch (cause) {
    throw new AuditVerificationError("ERR_AUDIT_BAD_KEY", "invalid note key: Ed25519 import failed", {
      cause,
    });
  }
  const publicKeyRaw = jwk.x === undefined ? null : base64Decode(fromBase64Url(jwk.x));
  if (publicKeyRaw?.length !== ED25519_KEY_SIZE) throw badKey("could not derive the public key");
  const privateKey = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
  if (Number.parseInt(hash16, 16) !== (await ed25519KeyHash(name, publicKeyRaw))) {
    throw badKey(`the key ID ${hash16} does not match the key name and public key`);
  }
  return Object.freeze({ name, privateKey, publicKeyRaw });
}

function fromBase64Url(text: string): string {
  const std = text.replaceAll("-", "+").replaceAll("_", "/");
  return std + "=".repeat((4 - (std.length % 4)) % 4);
}

/** Signed-note text rule: valid UTF-8 (a JS string without lone surrogates) with no control character but `\n`. */
function hasForbiddenCharacters(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused
  return /[\u0000-\u0009\u000b-\u001f]|\p{Cs}/u.test(text);
}

/**
 * Signs `text` (which must end with a newline) with one Ed25519 key and returns the signed note:
 * the text, a blank line, and one signature line. Throws ERR_AUDIT_MALFORMED_NOTE for text a note
 * cannot carry, ERR_AUDIT_BAD_KEY for an invalid name or a private key that does not match
 * `publicKeyRaw` (the signature is checked before it is returned).
 *
 * @example
 * const note = await signNote(formatCheckpoint({ origin, size, rootHash }), signer);
 * // "deputy.example/audit\n64\n…=\n\n— deputy.example/audit Gq3…=\n"
 */
export async function signNote(text: string, signer: NoteSigner): Promise<string> {
  if (typeof text !== "string" || !text.endsWith("\n"))
    throw malformedNote("the text must end with a newline");
  if (hasForbiddenCharacters(text))
    throw malformedNote("the text contains a control character or invalid UTF-8");
  const { name, privateKey, publicKeyRaw } = signer;
  if (!isValidKeyName(name)) throw badKey("invalid key name");
  if (!(publicKeyRaw instanceof Uint8Array) || publicKeyRaw.length !== ED25519_KEY_SIZE) {
    throw badKey("an Ed25519 public key is 32 bytes");
  }
  if (privateKey.algorithm.name !== "Ed25519" || privateKey.type !== "private") {
    throw badKey("the private key is not an Ed25519 private key");
  }
  const message = utf8(text);
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, message));
  const publicKey = await crypto.subtle.importKey("raw", ownBytes(publicKeyRaw), { name: "Ed25519" }, false, [
    "verify",
  ]);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, publicKey, signature, message))) {
    throw badKey("the private key does not match publicKeyRaw");
  }
  const keyId = new Uint8Array(4);
  new DataView(keyId.buffer).setUint32(0, await ed25519KeyHash(name, publicKeyRaw), false);
  return `${text}\n${SIGNATURE_PREFIX}${name} ${base64Encode(concatBytes(keyId, signature))}\n`;
}

const importedKeys = new WeakMap<VerifierKey, Promise<CryptoKey>>();

function cryptoKeyOf(key: VerifierKey): Promise<CryptoKey> {
  let imported = importedKeys.get(key);
  if (imported === undefined) {
    imported = crypto.subtle.importKey("raw", ownBytes(key.publicKey), { name: "Ed25519" }, false, [
      "verify",
    ]);
    importedKeys.set(key, imported);
  }
  return imported;
}

/**
 * Opens a signed note: checks its syntax and every signature by one of `verifierKeys` (parsed
 * keys or verifier key strings). Throws (rejects with) an {@link AuditVerificationError}:
 *
 * - ERR_AUDIT_MALFORMED_NOTE: over 1 MiB or 100 signatures, invalid UTF-8, a control character,
 *   no blank line before the signatures, a line that is not `— <name> <base64>`, a signature
 *   shorter than 5 bytes;
 * - ERR_AUDIT_BAD_SIGNATURE: a signature by a known key (same name and key ID) does not verify;
 * - ERR_AUDIT_UNKNOWN_KEY: no signature is by a known key. This is what a renamed signature line
 *   (the wrong-key-name attack) or a forged key ID produces: name and key ID must both match;
 * - ERR_AUDIT_BAD_KEY: a verifier key string is invalid, or two given keys share a name and ID.
 *
 * @example
 * const { text } = await openNote(body, [await parseVerifierKey(vkey)]);
 */
export async function openNote(
  note: string | Uint8Array,
  verifierKeys: readonly (VerifierKey | string)[],
): Promise<OpenedNote> {
  const keys = await Promise.all(verifierKeys.map((k) => (typeof k === "string" ? parseVerifierKey(k) : k)));
  const bytes = typeof note === "string" ? utf8(note) : note;
  if (!(bytes instanceof Uint8Array)) throw malformedNote("not text");
  if (bytes.length > MAX_NOTE_BYTES) throw malformedNote(`longer than ${MAX_NOTE_BYTES} bytes`);
  const msg = utf8DecodeStrict(bytes);
  if (msg === null) throw malformedNote("not valid UTF-8");
  if (hasForbiddenCharacters(msg)) throw malformedNote("contains a control character other than newline");

  // The text is separated from the signatures by the last blank line.
  const split = msg.lastIndexOf("\n\n");
  if (split < 0) throw malformedNote("no blank line before the signatures");
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (block.length === 0 || !block.endsWith("\n"))
    throw malformedNote("the signature block must end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformedNote(`more than ${MAX_NOTE_SIGNATURES} signatures`);

  const message = utf8(text);
  const verified: NoteSignature[] = [];
  const unknown: NoteSignature[] = [];
  const seenVerified = new Set<string>();
  const seenUnknown = new Set<string>();
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX))
      throw malformedNote("a signature line must start with an em dash and a space");
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? "" : rest.slice(space + 1);
    const raw = base64Decode(b64);
    if (!isValidKeyName(name) || b64 === "" || raw === null || raw.length < 5) {
      throw malformedNote("a signature line must be '— <key name> <base64 signature>'");
    }
    const keyHash = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0, false);
    const signature = raw.subarray(4);

    const matches = keys.filter((k) => k.name === name && k.keyHash === keyHash);
    if (matches.length === 0) {
      // C2SP: verifiers MUST ignore signatures from unknown keys, even if they share a name or a
      // key ID (but not both) with a known key.
      if (!seenUnknown.has(line)) {
        seenUnknown.add(line);
        unknown.push({ name, keyHash, verified: false });
      }
      continue;
    }
    if (matches.length > 1) throw badKey(`ambiguous key ${name}+${keyIdFormat(keyHash)}`);
    const id = `${name}+${keyHash}`;
    if (seenVerified.has(id)) continue;
    seenVerified.add(id);
    const ok =
      signature.length === ED25519_SIGNATURE_SIZE &&
      (await crypto.subtle.verify(
        { name: "Ed25519" },
        await cryptoKeyOf(matches[0]!),
        ownBytes(signature),
        message,
      ));
    if (!ok) {
      // C2SP: if a signature from a known key fails to verify, clients SHOULD reject the whole note.
      throw new AuditVerificationError(
        "ERR_AUDIT_BAD_SIGNATURE",
        `invalid signature for key ${name}+${keyIdFormat(keyHash)}`,
      );
    }
    verified.push({ name, keyHash, verified: true });
  }
  if (verified.length === 0) {
    throw new AuditVerificationError("ERR_AUDIT_UNKNOWN_KEY", "the note has no signature by a known key");
  }
  return { text, signatures: [...verified, ...unknown] };
}
