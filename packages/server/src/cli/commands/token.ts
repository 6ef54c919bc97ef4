/**
 * `deputy token --key-file F`: mints a DPoP-bound access token as the agent in the key file
 * (`private_key_jwt` + DPoP, exactly what an agent does with the SDK).
 *
 * @example
 * registerToken(program);
 */
import { DeputyAgent } from "@deputy/sdk";
import type { Command } from "commander";
import { decodeJwt } from "jose";
import { describeClaims } from "../claims.js";
import { readKeyFile } from "../key-file.js";
import { note, print, printJson } from "../output.js";
import { globals, withExample, withJson } from "./shared.js";

export function registerToken(program: Command): void {
  withExample(
    withJson(
      program
        .command("token")
        .description("mint a DPoP-bound access token for an agent key file (token on stdout)")
        .requiredOption("--key-file <path>", "the agent's key file from `deputy agent create`")
        .option("--scope <scopes>", "space-separated scopes (default: all the grant holds)")
        .option("--resource <audience>", "the resource (needed when the agent holds grants for several)"),
    ),
    "deputy token --key-file ./agt_….key.json --resource https://api.example.com --scope tickets:read",
    "deputy token --key-file ./agt_….key.json --json | jq .claims",
  ).action(async (opts: { keyFile: string; scope?: string; resource?: string }, cmd: Command) => {
    const key = await readKeyFile(opts.keyFile);
    const agent = new DeputyAgent({ issuer: key.issuer, agentId: key.agent_id, privateJwk: key.private_jwk });
    const { expires_at: _local, ...response } = await agent.getToken({
      ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
      ...(opts.resource !== undefined ? { resource: opts.resource } : {}),
    });
    const claims = decodeJwt(response.access_token);
    if (globals(cmd).json) return printJson({ ...response, claims });
    print(response.access_token);
    note(
      `${describeClaims(claims)}.`,
      `This ${response.token_type} token is bound to the agent's key: send it as "Authorization: DPoP <token>" with a DPoP proof.`,
    );
  });
}
