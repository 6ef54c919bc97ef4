/** Shared by the audit tests: a node:crypto sync hasher, hex helpers, and a refusal matcher. */
import { createHash } from "node:crypto";
import { expect } from "vitest";
import { AuditVerificationError } from "../errors.js";
import { createSyncHasher } from "../hasher.js";

/** node:crypto SHA-256 as a sync hasher; digests are copied out of `Buffer`s so results compare with `toEqual`. */
export const syncHasher = createSyncHasher(
  (data) => new Uint8Array(createHash("sha256").update(data).digest()),
);

export const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "hex"));
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
export const fromB64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"));
export const toB64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");
export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The code of the AuditVerificationError that `fn` throws or rejects with; fails otherwise. */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AuditVerificationError);
    return (e as AuditVerificationError).code;
  }
  throw new Error("expected an AuditVerificationError, nothing was thrown");
}

/** Same, for synchronous calls (asserts the error is thrown synchronously). */
export function syncCodeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AuditVerificationError);
    return (e as AuditVerificationError).code;
  }
  throw new Error("expected an AuditVerificationError, nothing was thrown");
}

/** Leaf hashes of `n` distinct entries. */
export function leaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => syncHasher.leaf(utf8(`entry ${i}`)));
}

export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}
