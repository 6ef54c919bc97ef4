/**
 * `deputy demo`: the whole story against a fresh embedded Deputy (random port, temp data dir,
 * removed afterwards), narrated step by step. Exits 0 only if every step behaved as expected, so
 * it doubles as an end-to-end check.
 *
 * @example
 * registerDemo(program);
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import type { RunningDeputy } from "../../serve.js";
import { Narrator, StepFailed } from "../demo/narrator.js";
import { tellStory } from "../demo/story.js";
import { CliError } from "../errors.js";
import { printJson } from "../output.js";
import { withExample, withJson } from "./shared.js";

export function registerDemo(program: Command): void {
  withExample(
    withJson(
      program
        .command("demo")
        .description(
          "run the whole story (agent, grant, token, sub-agent, revocation) against a fresh server",
        ),
    ),
    "deputy demo",
  ).action(async (opts: { json?: boolean }) => {
    const n = new Narrator({ json: opts.json === true });
    const dataDir = await mkdtemp(join(tmpdir(), "deputy-demo-"));
    let running: RunningDeputy | undefined;
    let failure: string | undefined;
    n.say("Deputy demo: one agent, one sub-agent, one revocation, against a fresh server.", "");
    try {
      // Loaded here, not at the top: every other command stays a light HTTP client.
      const { createLogger, startDeputy } = await import("../../serve.js");
      running = await n.step("Start a fresh Deputy on SQLite in a temporary directory.", async () => {
        // env: {} keeps the caller's DEPUTY_* settings away from the throw-away instance.
        const r = await startDeputy({ port: 0, dataDir, env: {}, logger: createLogger("silent") });
        return { details: [`Listening on ${r.url}; data in ${dataDir}.`], value: r };
      });
      await tellStory(n, { url: running.url, adminToken: running.adminToken });
    } catch (e) {
      failure = e instanceof StepFailed ? e.message : `the demo crashed: ${(e as Error).message}`;
    } finally {
      await running?.close().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    }
    if (opts.json) printJson({ ok: failure === undefined, steps: n.steps, ...(failure ? { failure } : {}) });
    if (failure)
      throw new CliError("ERR_DEMO_FAILED", failure, "the server misbehaved at this step; see above.");
    n.say("", "Every step behaved as expected. The demo server and its data are gone.");
  });
}
