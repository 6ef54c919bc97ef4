/**
 * The thread-pool prefetch must never change an answer: it is only a cache of the very same check.
 */
import { createHash, createPrivateKey, createPublicKey, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { prefetchJwsSignature, signCompactJws, signCompactJwsAsync, verifyJwsSignature } from "./jws.js";

const PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const key = (n: number) =>
  createPrivateKey({
    key: Buffer.concat([PREFIX, createHash("sha256").update(`k${n}`).digest()]),
    format: "der",
    type: "pkcs8",
  });

describe("signature prefetch", () => {
  const priv = key(1);
  const pub = createPublicKey(priv);
  const other = createPublicKey(key(2));
  const input = Buffer.from("header.payload");
  const sig = sign(null, input, priv);

  it("answers exactly as the synchronous check, for valid and invalid signatures", async () => {
    await prefetchJwsSignature("EdDSA", pub, input, sig);
    expect(verifyJwsSignature("EdDSA", pub, input, sig)).toBe(true);
    const bad = Buffer.from(sig);
    bad[0] = (bad[0] ?? 0) ^ 1;
    await prefetchJwsSignature("EdDSA", pub, input, bad);
    expect(verifyJwsSignature("EdDSA", pub, input, bad)).toBe(false);
  });

  it("a prefetched result never answers for another key or another input", async () => {
    await prefetchJwsSignature("EdDSA", pub, input, sig);
    expect(verifyJwsSignature("EdDSA", other, input, sig)).toBe(false);
    expect(verifyJwsSignature("EdDSA", pub, Buffer.from("header.other"), sig)).toBe(false);
    // The entry is still there for the right key and input, and is used once.
    expect(verifyJwsSignature("EdDSA", pub, input, sig)).toBe(true);
    expect(verifyJwsSignature("EdDSA", pub, input, sig)).toBe(true);
  });

  it("async signing produces the same JWS as sync signing (Ed25519 is deterministic)", async () => {
    const header = { typ: "at+jwt", kid: "k" };
    const payload = { sub: "x" };
    expect(await signCompactJwsAsync(header, payload, priv, "EdDSA")).toBe(
      signCompactJws(header, payload, priv, "EdDSA"),
    );
  });
});
