import { describe, expect, it } from "vitest";
import { boxKeyId, MasterKeyMissingError, MasterKeyRing, masterKeyId } from "./master-key-ring.js";
import { sealWithKey } from "./secrets.js";

const OLD = Buffer.alloc(32, 1);
const NEW = Buffer.alloc(32, 2);
const CTX = "deputy:test:v1";

describe("master-key ring", () => {
  it("ids are 16 hex digits, stable, domain-separated from a plain hash of the key", () => {
    expect(masterKeyId(OLD)).toMatch(/^[0-9a-f]{16}$/);
    expect(masterKeyId(OLD)).toBe(masterKeyId(Buffer.alloc(32, 1)));
    expect(masterKeyId(OLD)).not.toBe(masterKeyId(NEW));
  });

  it("seals v2 boxes naming the active key; any ring member opens its own boxes", () => {
    const before = MasterKeyRing.from([OLD]);
    const box = before.seal(Buffer.from("s3cret"), CTX);
    expect(box.startsWith(`v2.${masterKeyId(OLD)}.`)).toBe(true);
    expect(boxKeyId(box)).toBe(masterKeyId(OLD));

    const after = MasterKeyRing.from([NEW, OLD]);
    expect(after.activeId).toBe(masterKeyId(NEW));
    expect(after.open(box, CTX).toString()).toBe("s3cret");
    expect(after.needsReseal(box)).toBe(true);
    const resealed = after.seal(after.open(box, CTX), CTX);
    expect(after.needsReseal(resealed)).toBe(false);
    expect(after.sealedBy(resealed, CTX)).toBe(masterKeyId(NEW));
  });

  it("opens id-less v1 boxes (written before the ring) by trying every key", () => {
    const legacy = sealWithKey(OLD, Buffer.from("legacy"), CTX);
    const ring = MasterKeyRing.from([NEW, OLD]);
    expect(ring.open(legacy, CTX).toString()).toBe("legacy");
    expect(ring.sealedBy(legacy, CTX)).toBe(masterKeyId(OLD));
    expect(ring.needsReseal(legacy)).toBe(true);
    // A v1 box of the active key still needs a re-seal, to record its key id.
    expect(ring.needsReseal(sealWithKey(NEW, Buffer.from("x"), CTX))).toBe(true);
  });

  it("a box whose key left the ring fails with MasterKeyMissingError naming the key id", () => {
    const box = MasterKeyRing.from([OLD]).seal(Buffer.from("x"), CTX);
    const ring = MasterKeyRing.from([NEW]);
    expect(() => ring.open(box, CTX)).toThrowError(MasterKeyMissingError);
    expect(() => ring.open(box, CTX)).toThrowError(
      new RegExp(`master key ${masterKeyId(OLD)} that sealed this box is not in the master-key ring`),
    );
    const legacy = sealWithKey(OLD, Buffer.from("x"), CTX);
    expect(() => ring.open(legacy, CTX)).toThrowError(/no key in the master-key ring opens this box/);
  });

  it("the key id is authenticated and the context still binds", () => {
    const ring = MasterKeyRing.from([NEW, OLD]);
    const box = ring.seal(Buffer.from("x"), CTX);
    const relabelled = box.replace(masterKeyId(NEW), masterKeyId(OLD));
    expect(() => ring.open(relabelled, CTX)).toThrow();
    expect(() => ring.open(box, "deputy:other:v1")).toThrow();
    expect(() => ring.open("v3.a.b.c", CTX)).toThrowError(/malformed/);
    expect(() => ring.open("v2.abc.b.c", CTX)).toThrowError(/malformed/);
  });

  it("refuses an empty ring, a wrong-size key and a duplicate", () => {
    expect(() => MasterKeyRing.from([])).toThrowError(/empty/);
    expect(() => MasterKeyRing.from([Buffer.alloc(16)])).toThrowError(/32 bytes/);
    expect(() => MasterKeyRing.from([OLD, Buffer.alloc(32, 1)])).toThrowError(/twice/);
  });

  it("derives one HMAC key per ring member, active first, equal to the single-key derivation", () => {
    const [a, b] = MasterKeyRing.from([NEW, OLD]).derive("deputy:dpop-nonce:v1");
    const [only] = MasterKeyRing.from([OLD]).derive("deputy:dpop-nonce:v1");
    expect(b).toEqual(only);
    expect(a).not.toEqual(b);
  });
});
