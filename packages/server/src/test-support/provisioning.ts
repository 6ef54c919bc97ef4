/**
 * Shared set-up for provisioning tests: the server settings they run with, and a temporary-agent
 * registration with a solved proof-of-work challenge.
 *
 * @example
 * t = await createTestDeputy({ ...PROVISIONING_TEST_SETTINGS, temporaryAgentsPerHour: 1 });
 * const res = await postTemporaryAgent(t, testKey(7), { remoteAddress: "203.0.113.9" });
 */
import type { LightMyRequestResponse } from "fastify";
import { solveChallenge } from "../provision/index.js";
import type { TestKey } from "./keys.js";
import { TEST_RESOURCE, type TestDeputy } from "./server.js";

/** A cheap proof of work, a sandbox on the test resource, and room for many temporary agents. */
export const PROVISIONING_TEST_SETTINGS = {
  powDifficulty: 8,
  sandboxResources: TEST_RESOURCE,
  sandboxScopes: "read",
  temporaryAgentsPerHour: 100,
} as const;

/** A fresh challenge from the server, solved. */
export async function solvedChallenge(
  t: TestDeputy,
): Promise<{ challenge: string; nonce: string; difficulty: number }> {
  const c = (await t.app.inject({ method: "GET", url: "/v1/agents/temporary/challenge" })).json();
  return {
    challenge: c.challenge,
    difficulty: c.difficulty,
    nonce: solveChallenge(c.challenge, c.difficulty),
  };
}

/**
 * `POST /v1/agents/temporary` for `key` with a freshly solved challenge. `body` adds or replaces
 * members (`name` defaults to "stray"); `remoteAddress` is the socket peer.
 */
export async function postTemporaryAgent(
  t: TestDeputy,
  key: TestKey,
  options: { body?: Record<string, unknown>; remoteAddress?: string; headers?: Record<string, string> } = {},
): Promise<LightMyRequestResponse> {
  const s = await solvedChallenge(t);
  return t.app.inject({
    method: "POST",
    url: "/v1/agents/temporary",
    headers: { "content-type": "application/json", ...options.headers },
    payload: JSON.stringify({
      name: "stray",
      jwks: { keys: [key.publicJwk] },
      challenge: s.challenge,
      nonce: s.nonce,
      ...options.body,
    }),
    ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}),
  });
}
