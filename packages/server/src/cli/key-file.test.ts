/**
 * Key files that are not what they should be: each refused with ERR_KEY_FILE and a message that
 * names the file, never with the JSON parser's message (it would quote private key material).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readGeneratedKey, readKeyFile } from "./key-file.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "deputy-key-file-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

describe("readKeyFile", () => {
  it.each([
    ["null", "null"],
    ["an array", "[]"],
    ["a number", "42"],
    ["an object without private_jwk", '{"agent_id":"agt_x","issuer":"http://x"}'],
  ])("refuses JSON that is %s as not an agent key file", async (_, text) => {
    const path = file("k.json", text);
    await expect(readKeyFile(path)).rejects.toMatchObject({
      code: "ERR_KEY_FILE",
      message: `${path} is not an agent key file (agent_id, issuer, private_jwk)`,
      hint: "pass the file `deputy agent create` wrote.",
    });
  });

  it("refuses text that is not JSON without quoting it", async () => {
    const path = file("k.json", '{"private_jwk":{"d":"SECRETSECRET"');
    const error = await readKeyFile(path).catch((e: Error) => e);
    expect(error).toMatchObject({ code: "ERR_KEY_FILE", message: `${path} is not JSON` });
    expect(String((error as Error).message)).not.toContain("SECRET");
  });
});

describe("readGeneratedKey", () => {
  const hint = "create one with: deputy agent keygen --out <file>";

  it("refuses null and a key of another type", async () => {
    for (const text of ["null", '{"private_jwk":{"kty":"RSA","d":"x"}}']) {
      const path = file("g.json", text);
      await expect(readGeneratedKey(path)).rejects.toMatchObject({
        code: "ERR_KEY_FILE",
        message: `${path} holds no Ed25519 or P-256 private key (private_jwk)`,
        hint,
      });
    }
  });

  it("says how to make a key when the file is missing or not JSON, without quoting it", async () => {
    const missing = join(dir, "absent.json");
    await expect(readGeneratedKey(missing)).rejects.toMatchObject({
      code: "ERR_KEY_FILE",
      message: expect.stringMatching(new RegExp(`^cannot read the key in ${missing}: ENOENT`)),
      hint,
    });
    const path = file("g.json", '{"private_jwk":{"d":"SECRETSECRET"');
    const error = await readGeneratedKey(path).catch((e: Error) => e);
    expect(error).toMatchObject({ code: "ERR_KEY_FILE", message: `the key file ${path} is not JSON`, hint });
    expect(String((error as Error).message)).not.toContain("SECRET");
  });
});
