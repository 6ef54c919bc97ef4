/**
 * The verifier (and the agent client, the Hono middleware and the MCP helper) must run on any
 * runtime with web standards. esbuild bundles each entry for the `neutral` platform, where a
 * Node built-in cannot resolve; the test then walks the import graph (metafile) and the output
 * for anything Node-only: `node:` imports, bare built-ins, `require`, `process`, `Buffer`.
 */
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const src = (p: string) => fileURLToPath(new URL(`../src/${p}`, import.meta.url));
const NODE_ONLY = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

for (const entry of ["verifier.ts", "agent.ts", "middleware/hono.ts", "mcp.ts"]) {
  describe(`@deputy/sdk/${entry.replace(/\.ts$/, "")} is web-standards only`, () => {
    it("bundles for the neutral platform with no Node built-in in its import graph", async () => {
      const result = await build({
        entryPoints: [src(entry)],
        bundle: true,
        write: false,
        platform: "neutral",
        format: "esm",
        mainFields: ["module", "main"],
        conditions: ["worker", "browser", "import"],
        metafile: true,
        logLevel: "silent",
      });
      const imports = Object.values(result.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
      expect(imports.filter((p) => NODE_ONLY.has(p) || p.startsWith("node:"))).toEqual([]);
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.some((p) => p.includes("/jose/"))).toBe(true);
      const code = result.outputFiles[0]!.text;
      expect(code).not.toMatch(/\brequire\(/);
      expect(code).not.toMatch(/\bprocess\.(env|versions|nextTick)/);
      expect(code).not.toMatch(/\bBuffer\.(from|alloc|concat)/);
    });
  });
}

it("the Node-only entry really is caught by this check (the test can fail)", async () => {
  const attempt = build({
    entryPoints: [src("node.ts")],
    bundle: true,
    write: false,
    platform: "neutral",
    format: "esm",
    logLevel: "silent",
  });
  await expect(attempt).rejects.toThrow(/node:fs\/promises/);
});
