/**
 * The audit log's own Ed25519 key, which signs checkpoints as C2SP signed notes. It is never the
 * token-signing key: a compromise of one does not let anyone forge the other, and the two rotate
 * independently. Created on first start, its private half sealed with the master key under its own
 * AAD context (so an issuer-key box cannot be opened as a log key, nor the reverse), and stored in
 * `audit_log_key`.
 *
 * The key name is the log's origin (C2SP tlog-checkpoint: a schema-less URL-ish string), derived
 * from the issuer at first start and kept thereafter, so the log's identity survives a change of
 * issuer URL. Published as `audit_log_public_key` in the RFC 8414 metadata:
 * `<name>+<hex key ID>+<base64(0x01 || public key)>` (C2SP signed-note verifier key).
 *
 * @example
 * const key = await openLogKey(store, masterKeys, "https://deputy.example", clock);
 * key.origin;       // "deputy.example/deputy-audit"
 * key.verifierKey;  // "deputy.example/deputy-audit+1a2b3c4d+AV…"
 * const note = await signNote(formatCheckpoint({ origin: key.origin, size, rootHash }), key.signer);
 */
import { generateKeyPairSync, webcrypto } from "node:crypto";
import { formatVerifierKey, isValidKeyName, type NoteSigner } from "@deputy/protocol";
import type { Clock } from "../clock.js";
import type { MasterKeyRing } from "../crypto/master-key-ring.js";
import type { Store } from "../store/index.js";

export const LOG_KEY_CONTEXT = "deputy:audit-log-key:v1";

export interface LogKey {
  /** Key name and checkpoint origin. */
  origin: string;
  /** The C2SP verifier key string (`audit_log_public_key`). */
  verifierKey: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  signer: NoteSigner;
}

/**
 * The log origin for an issuer URL: host (with port) and path, then `/deputy-audit`.
 *
 * @example
 * logOrigin("https://deputy.example");        // "deputy.example/deputy-audit"
 * logOrigin("http://127.0.0.1:4747/idp/");    // "127.0.0.1:4747/idp/deputy-audit"
 */
export function logOrigin(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, "");
  const origin = `${url.host}${path}/deputy-audit`;
  if (!isValidKeyName(origin)) throw new Error(`the issuer ${issuer} gives an invalid log origin`);
  return origin;
}

/**
 * Loads the log key, creating it on first start (exactly one concurrent starter's key is kept).
 *
 * @example
 * const key = await openLogKey(store, masterKeys, config.issuer, clock);
 */
export async function openLogKey(
  store: Store,
  masterKeys: MasterKeyRing,
  issuer: string,
  clock: Clock,
): Promise<LogKey> {
  let record = await store.auditTree.logKey();
  if (!record) {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    record = await store.auditTree.ensureLogKey({
      name: logOrigin(issuer),
      // An Ed25519 SPKI is a fixed 12-byte header followed by the 32-byte key (RFC 8410 §4).
      publicKey: new Uint8Array(publicKey.export({ format: "der", type: "spki" }).subarray(-32)),
      privateKeyEnc: masterKeys.seal(
        privateKey.export({ format: "der", type: "pkcs8" }) as Buffer,
        LOG_KEY_CONTEXT,
      ),
      createdAt: clock.now(),
    });
  }
  const pkcs8 = masterKeys.open(record.privateKeyEnc, LOG_KEY_CONTEXT);
  const privateKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  return {
    origin: record.name,
    verifierKey: await formatVerifierKey(record.name, record.publicKey),
    publicKey: record.publicKey,
    signer: {
      name: record.name,
      privateKey: privateKey as unknown as NoteSigner["privateKey"],
      publicKeyRaw: record.publicKey,
    },
  };
}
