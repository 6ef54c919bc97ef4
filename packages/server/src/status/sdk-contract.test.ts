/**
 * The contract between this server and `@deputy/sdk/verifier` (issue #4): the SDK's verifier,
 * pointed at a real in-process Deputy, reads its status lists and its revocation event stream and
 * refuses revoked tokens. Runs on both stores; the verifier shares the server's fake clock.
 */
import { createVerifier, type Verifier } from "@deputy/sdk/verifier";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { getToken } from "../test-support/oauth.js";
import {
  createTestDeputy,
  expectOk,
  type Story,
  setupStory,
  TEST_ISSUER,
  TEST_RESOURCE,
  type TestDeputy,
} from "../test-support/server.js";

/** These tests are about the token alone; the DPoP proof is the subject of other tests. */
const ELSEWHERE = { dpop: "checked-elsewhere" } as const;
let t: TestDeputy;
let story: Story;
let base: string;
const verifiers: Verifier[] = [];

beforeEach(async () => {
  t = await createTestDeputy();
  story = await setupStory(t);
  base = await t.app.listen({ port: 0, host: "127.0.0.1" });
});
afterEach(async () => {
  for (const v of verifiers.splice(0)) await v.close();
  await t.close();
});

/** A verifier for the test issuer whose requests go to the listening test server. */
function verifier(options: { events: boolean; onRevocation?: () => void }): Verifier {
  const v = createVerifier({
    issuer: TEST_ISSUER,
    audience: TEST_RESOURCE,
    resourceId: story.resource.id,
    resourceSecret: story.resource.secret,
    now: () => t.clock.now(),
    fetch: (input, init) => {
      const url = String(input instanceof Request ? input.url : input).replace(TEST_ISSUER, base);
      return fetch(url, init);
    },
    revocation: { events: options.events },
    ...(options.onRevocation ? { onRevocation: options.onRevocation } : {}),
  });
  verifiers.push(v);
  return v;
}

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: { code?: string }) => e.code ?? String(e),
  );
}

describe("@deputy/sdk/verifier against this server", () => {
  it("reads the status list: accepts a valid token, refuses it once revoked", async () => {
    const token = await getToken(t, story.agent, story.agentKey);
    const before = verifier({ events: false });
    expect((await before.verifyToken(token, ELSEWHERE)).agent).toBe(story.agent);
    await expectOk(t.api("POST", `/v1/agents/${story.agent}/revoke`, {}));
    // A fresh verifier (no cached list) sees the bit at once.
    expect(await refusal(verifier({ events: false }).verifyToken(token, ELSEWHERE))).toBe(
      "ERR_TOKEN_REVOKED",
    );
  });

  it("follows the event stream: a revocation refuses tokens, including ones it never saw", async () => {
    const seen = await getToken(t, story.agent, story.agentKey);
    const unseen = await getToken(t, story.agent, story.agentKey, { scope: "read" });
    let events = 0;
    const v = verifier({ events: true, onRevocation: () => events++ });
    await v.start();
    const deadline = Date.now() + 5_000;
    while (!v.health().streamConnected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(v.health().streamConnected).toBe(true);
    expect((await v.verifyToken(seen, ELSEWHERE)).agent).toBe(story.agent);
    await expectOk(t.api("POST", `/v1/agents/${story.agent}/revoke`, { reason: "compromised" }));
    while (events === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(events).toBe(1);
    expect(v.health().lastEventId).toBe(1);
    expect(await refusal(v.verifyToken(seen, ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
    expect(await refusal(v.verifyToken(unseen, ELSEWHERE))).toBe("ERR_TOKEN_REVOKED");
  });
});
