/**
 * Property tests: no sequence of delegations ever yields more scope, resources, lifetime or depth
 * than its root grant, and attenuate either narrows or refuses with the code naming the axis.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Authority, attenuate, isWithin } from "./delegation.js";
import { DeputyError } from "./errors.js";

const SCOPES = ["read", "write", "deploy", "admin", "agents:delegate"];
const RESOURCES = ["https://a.test", "https://b.test", "https://c.test"];

const authority = fc.record({
  scopes: fc.subarray(SCOPES, { minLength: 1 }),
  resources: fc.subarray(RESOURCES, { minLength: 1 }),
  expiresAt: fc.integer({ min: 1_000, max: 10_000_000 }),
  depthRemaining: fc.integer({ min: 0, max: 4 }),
});

// A request may ask for anything, including things the parent lacks.
const request = fc.record(
  {
    scopes: fc.subarray(SCOPES),
    resources: fc.subarray(RESOURCES),
    expiresAt: fc.integer({ min: 1_000, max: 20_000_000 }),
    depthRemaining: fc.integer({ min: -1, max: 5 }),
  },
  { requiredKeys: [] },
);

describe("attenuate", () => {
  it("never widens along any chain of delegations", () => {
    fc.assert(
      fc.property(authority, fc.array(request, { maxLength: 8 }), (root, requests) => {
        let current: Authority = root;
        for (const r of requests) {
          try {
            const next = attenuate(current, r);
            expect(isWithin(next, current)).toBe(true);
            expect(isWithin(next, root)).toBe(true);
            expect(next.depthRemaining).toBeLessThan(current.depthRemaining);
            current = next;
          } catch (e) {
            expect(e).toBeInstanceOf(DeputyError);
            expect([
              "ERR_INVALID_REQUEST",
              "ERR_DELEGATION_DEPTH_EXCEEDED",
              "ERR_DELEGATION_WIDENS_SCOPE",
              "ERR_DELEGATION_WIDENS_RESOURCE",
              "ERR_DELEGATION_OUTLIVES_PARENT",
            ]).toContain((e as DeputyError).code);
          }
        }
      }),
      { seed: 20261129, numRuns: 2000 },
    );
  });

  it("refuses exactly when the request exceeds the parent on some axis", () => {
    fc.assert(
      fc.property(authority, request, (parent, r) => {
        const widens =
          parent.depthRemaining < 1 ||
          r.scopes?.length === 0 ||
          r.resources?.length === 0 ||
          (r.scopes ?? []).some((s) => !parent.scopes.includes(s)) ||
          (r.resources ?? []).some((x) => !parent.resources.includes(x)) ||
          (r.expiresAt ?? 0) > parent.expiresAt ||
          (r.depthRemaining !== undefined &&
            (r.depthRemaining > parent.depthRemaining - 1 || r.depthRemaining < 0));
        let refused = false;
        try {
          attenuate(parent, r);
        } catch {
          refused = true;
        }
        expect(refused).toBe(widens);
      }),
      { seed: 7, numRuns: 2000 },
    );
  });

  it("names the axis: widened scope, resource, lifetime, depth", () => {
    const parent: Authority = {
      scopes: ["read"],
      resources: ["https://a.test"],
      expiresAt: 100,
      depthRemaining: 1,
    };
    const code = (r: Parameters<typeof attenuate>[1], p = parent) => {
      try {
        attenuate(p, r);
        return "ok";
      } catch (e) {
        return (e as DeputyError).code;
      }
    };
    expect(code({ scopes: ["read", "write"] })).toBe("ERR_DELEGATION_WIDENS_SCOPE");
    expect(code({ resources: ["https://b.test"] })).toBe("ERR_DELEGATION_WIDENS_RESOURCE");
    expect(code({ expiresAt: 101 })).toBe("ERR_DELEGATION_OUTLIVES_PARENT");
    expect(code({ depthRemaining: 1 })).toBe("ERR_DELEGATION_DEPTH_EXCEEDED");
    expect(code({}, { ...parent, depthRemaining: 0 })).toBe("ERR_DELEGATION_DEPTH_EXCEEDED");
    expect(code({})).toBe("ok");
    expect(code({ depthRemaining: Number.NaN })).toBe("ERR_DELEGATION_DEPTH_EXCEEDED");
    expect(code({ depthRemaining: 0.5 })).toBe("ERR_DELEGATION_DEPTH_EXCEEDED");
    expect(code({}, { ...parent, depthRemaining: Number.NaN })).toBe("ERR_INVALID_REQUEST");
    expect(code({ expiresAt: Number.NaN })).toBe("ERR_INVALID_REQUEST");
    expect(code({ scopes: [] })).toBe("ERR_INVALID_REQUEST");
  });
});
