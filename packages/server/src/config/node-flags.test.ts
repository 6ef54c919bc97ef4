import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SERVER_NODE_FLAGS } from "./node-flags.js";

describe("server node flags", () => {
  it("are the flags on bin/deputy.js's shebang line, run through env -S", () => {
    const first = readFileSync(new URL("../../bin/deputy.js", import.meta.url), "utf8").split("\n")[0];
    expect(first).toBe(`#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(" ")}`);
  });
});
