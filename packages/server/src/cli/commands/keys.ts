/**
 * `deputy keys rotate`: a new issuer signing key; the retired one stays in the JWKS until every
 * token it signed has expired.
 *
 * @example
 * registerKeys(program);
 */
import type { Command } from "commander";
import { print, printJson } from "../output.js";
import { apiFor, globals, withExample, withJson } from "./shared.js";

export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("the issuer's token-signing keys");
  withExample(
    withJson(keys.command("rotate").description("start signing with a new key (admin)")),
    "deputy keys rotate",
  ).action(async (_opts: unknown, cmd: Command) => {
    const r = await (await apiFor(cmd)).post<Record<string, string | null>>("/v1/keys/rotate", {});
    if (globals(cmd).json) return printJson(r);
    print(`New tokens are signed with key ${r.active_kid}.`);
    if (r.retired_kid) {
      print(`The retired key ${r.retired_kid} stays in the JWKS until ${r.retired_published_until}.`);
    }
  });
}
