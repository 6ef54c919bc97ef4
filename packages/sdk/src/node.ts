/**
 * `@deputy/sdk/node`: Node-only helpers for agents — reading the key file that `deputy agent
 * create` writes (`{agent_id, issuer, kid, private_jwk}`, mode 0600) into a ready
 * {@link DeputyAgent}.
 *
 * @example
 * import { loadAgent } from "@deputy/sdk/node";
 * const agent = await loadAgent("./agt_123.key.json");
 * const res = await agent.fetch("https://api.example.com/tickets", {}, { resource: "https://api.example.com" });
 */
/// <reference types="node" />
import * as nodeCrypto from "node:crypto";
import { readFile } from "node:fs/promises";
import type { JWK } from "jose";
import { DeputyAgent, type DeputyAgentOptions } from "./agent/deputy-agent.js";
import { type NodeCryptoLike, nodeCryptoBackendOf, type SignatureBackend } from "./verifier/jws.js";

/** The agent key file written by `deputy agent create`. */
export interface AgentKeyFile {
  agent_id: string;
  issuer: string;
  kid?: string;
  private_jwk: JWK;
}

/**
 * Reads and checks an agent key file.
 *
 * @example
 * const { agent_id, issuer, private_jwk } = await readAgentKeyFile("./agt_123.key.json");
 */
export async function readAgentKeyFile(path: string): Promise<AgentKeyFile> {
  const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<AgentKeyFile> | null;
  if (
    !parsed ||
    typeof parsed.agent_id !== "string" ||
    typeof parsed.issuer !== "string" ||
    typeof parsed.private_jwk !== "object" ||
    parsed.private_jwk === null ||
    typeof parsed.private_jwk.d !== "string"
  ) {
    throw new TypeError(`${path} is not an agent key file ({agent_id, issuer, private_jwk})`);
  }
  return parsed as AgentKeyFile;
}

/**
 * A {@link DeputyAgent} from a key file; `options` override what the file says (e.g. the issuer
 * URL as this machine reaches it).
 *
 * @example
 * const agent = await loadAgent("./agt_123.key.json");
 * await agent.fetch("https://api.example.com/tickets", {}, { resource: "https://api.example.com", scope: "tickets:read" });
 */
export async function loadAgent(
  path: string,
  options: Partial<DeputyAgentOptions> = {},
): Promise<DeputyAgent> {
  const file = await readAgentKeyFile(path);
  return new DeputyAgent({
    issuer: file.issuer,
    agentId: file.agent_id,
    privateJwk: file.private_jwk,
    ...options,
  });
}

/**
 * A signature backend for the verifier on synchronous `node:crypto`: same checks, no thread-pool
 * round trip per signature, so a token never seen before is verified with less latency than
 * through Web Crypto (see docs/benchmarks.md, `sdk-verify`). The verifier already uses it by
 * default where the runtime offers `process.getBuiltinModule` (Node ≥ 20.16); pass it explicitly
 * on older Node versions.
 *
 * @example
 * import { nodeCryptoBackend } from "@deputy/sdk/node";
 * const verifier = createVerifier({ issuer, audience, signatureBackend: nodeCryptoBackend });
 */
export const nodeCryptoBackend: SignatureBackend = nodeCryptoBackendOf(
  nodeCrypto as unknown as NodeCryptoLike,
);
