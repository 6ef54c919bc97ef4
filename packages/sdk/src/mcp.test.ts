import { describe, expect, it } from "vitest";
import { deputyMcp } from "./mcp.js";
import { refuse } from "./verifier/errors.js";
import type { Verifier } from "./verifier/verifier.js";

/** A verifier stand-in that records the URL it is asked to check DPoP's htu against. */
function recording() {
  const urls: string[] = [];
  const verifier = {
    issuer: "https://deputy.example",
    verify: async (r: { url: string }) => {
      urls.push(r.url);
      throw refuse("ERR_TOKEN_MISSING", "no access token");
    },
  } as unknown as Verifier;
  return { urls, verifier };
}

describe("deputyMcp htu", () => {
  it("keeps the resource's origin for a path starting with // (Web Request)", async () => {
    const { urls, verifier } = recording();
    const mcp = deputyMcp({ verifier, resource: "https://tools.example.com/mcp" });
    await mcp.authenticate(new Request("https://tools.example.com//evil.example/mcp?x=1"));
    expect(urls).toEqual(["https://tools.example.com//evil.example/mcp?x=1"]);
  });

  it("keeps the resource's origin for a // path or an absolute-form request target (node)", async () => {
    const { urls, verifier } = recording();
    const mcp = deputyMcp({ verifier, resource: "https://tools.example.com/mcp" });
    const res = { writeHead: () => res, end: () => res, setHeader: () => res, headersSent: false };
    for (const url of ["//evil.example/mcp", "https://evil.example/mcp?y=2"]) {
      await mcp.authenticateNode({ method: "POST", url, headers: {} } as never, res as never);
    }
    expect(urls).toEqual([
      "https://tools.example.com//evil.example/mcp",
      "https://tools.example.com/mcp?y=2",
    ]);
  });
});
