import { describe, expect, it } from "vitest";
import { resolveConfig } from "./defaults.js";

describe("resolveConfig", () => {
  it("keeps revocation events at least as long as any token they name can live", () => {
    expect(resolveConfig({}, {}).revocationEventRetention).toBe(86_400);
    expect(resolveConfig({}, { DEPUTY_REVOCATION_EVENT_RETENTION: "3630" }).revocationEventRetention).toBe(
      3630,
    );
    expect(() => resolveConfig({}, { DEPUTY_REVOCATION_EVENT_RETENTION: "3629" })).toThrow(
      "revocationEventRetention must be at least maxAccessTokenTtl + clockSkew",
    );
    expect(() => resolveConfig({ maxAccessTokenTtl: 600, revocationEventRetention: 600 }, {})).toThrow(
      "revocationEventRetention must be at least",
    );
  });
});
