/**
 * Conformance tests for {@link NonceStore}.
 *
 * @example
 * describe("nonces", () => nonceTests(() => store));
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../index.js";
import { T0, uid } from "./fixtures.js";

export function nonceTests(s: () => Store): void {
  describe("nonces", () => {
    it("lets exactly one of 50 concurrent callers consume a key", async () => {
      const key = uid("jti");
      const far = Date.now() + 60_000;
      const results = await Promise.all(Array.from({ length: 50 }, () => s().nonces.consumeOnce(key, far)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await s().nonces.consumeOnce(key, far + 1)).toBe(false);
    });

    it("keeps a key used until it expires, then lets it be consumed again", async () => {
      const key = uid("jti");
      expect(await s().nonces.consumeOnce(key, T0 + 100, T0)).toBe(true);
      expect(await s().nonces.consumeOnce(key, T0 + 200, T0 + 99)).toBe(false);
      expect(await s().nonces.consumeOnce(key, T0 + 200, T0 + 100)).toBe(false);
      expect(await s().nonces.consumeOnce(key, T0 + 300, T0 + 101)).toBe(true);
      // The takeover stored the new expiry.
      expect(await s().nonces.consumeOnce(key, T0 + 400, T0 + 299)).toBe(false);
    });

    it("lets exactly one concurrent caller take over an expired key", async () => {
      const key = uid("jti");
      expect(await s().nonces.consumeOnce(key, T0 + 10, T0)).toBe(true);
      const results = await Promise.all(
        Array.from({ length: 30 }, () => s().nonces.consumeOnce(key, T0 + 1_000, T0 + 500)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("purges expired keys, which are then reusable", async () => {
      const old = [uid("jti"), uid("jti"), uid("jti")];
      const live = uid("jti");
      for (const k of old) await s().nonces.consumeOnce(k, T0 + 10, T0);
      await s().nonces.consumeOnce(live, T0 + 1_000, T0);
      expect(await s().nonces.purgeExpired(T0 + 10)).toBe(0);
      expect(await s().nonces.purgeExpired(T0 + 11)).toBe(3);
      expect(await s().nonces.purgeExpired(T0 + 11)).toBe(0);
      expect(await s().nonces.consumeOnce(old[0] ?? "", T0 + 100, T0 + 11)).toBe(true);
      expect(await s().nonces.consumeOnce(live, T0 + 2_000, T0 + 11)).toBe(false);
    });
  });
}
