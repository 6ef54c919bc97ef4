/**
 * No secrets in the log (DESIGN §4, issue 3 scope 1): after a full story — principal and its
 * token, resource and its secret, agent, grant, token, exchange to a sub-agent, the sub-agent's own
 * token, a refusal, introspections, RFC 7009 revocation, agent revocation, issuer key rotation, master-key re-seal —
 * every entry is scanned for token and secret material. Any hit fails.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestKey } from "../test-support/keys.js";
import { createTestDeputy, TEST_ADMIN_TOKEN, type TestDeputy } from "../test-support/server.js";
import { type FullStory, runFullStory } from "./test-support/story.js";

/** Shapes of secret material, whoever's it is. */
const SECRET_SHAPES: Array<[string, RegExp]> = [
  ["a JWS / JWT (compact serialization)", /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ["a JWS header", /eyJ[A-Za-z0-9_-]{16,}/],
  ["a principal token", /dpp_[A-Za-z0-9_-]{16,}/],
  ["an admin token", /dpa_[A-Za-z0-9_-]{16,}/],
  ["a resource secret", /drs_[A-Za-z0-9_-]{16,}/],
  ["a private JWK member", /"(d|p|q|dp|dq|qi|k)":"[A-Za-z0-9_-]{16,}"/],
  ["a PEM private key", /PRIVATE KEY/],
  // `"dpop": true` records that a proof was made; the proof itself would be a string.
  [
    "a client assertion or DPoP proof",
    /"(client_assertion|actor_token|dpop|access_token|refresh_token|client_secret)":"/i,
  ],
];

const privateD = (key: TestKey) => String((key.privateKey.export({ format: "jwk" }) as { d: string }).d);

let t: TestDeputy;
let story: FullStory;
beforeEach(async () => {
  t = await createTestDeputy();
  story = await runFullStory(t);
  await t.api("POST", "/v1/keys/rotate", {});
  await t.api("POST", "/v1/master-key/rewrap");
  await t.deputy.ledger.integrate();
});
afterEach(async () => t.close());

describe("no secrets in audit entries", () => {
  it("scans every entry of a full story for token and secret material", async () => {
    const entries = await t.deputy.store.audit.entries(0, 1_000_000);
    expect(entries.length).toBeGreaterThan(15);
    const actions = new Set(entries.map((e) => JSON.parse(e).action));
    for (const a of [
      "token.issued",
      "token.exchanged",
      "token.refused",
      "token.introspected",
      "token.revoked",
      "agent.revoked",
      "master_key.rewrapped",
    ]) {
      expect(actions).toContain(a);
    }
    const exact = [
      ...story.tokens,
      ...story.tokens.map((tok) => tok.split(".")[2]!),
      ...story.secrets,
      TEST_ADMIN_TOKEN,
      // The master key createTestDeputy runs with.
      Buffer.alloc(32, 7).toString("base64"),
      privateD(story.agentKey),
      privateD(story.subKey),
    ];
    const hits: string[] = [];
    for (const [index, entry] of entries.entries()) {
      for (const [what, shape] of SECRET_SHAPES) if (shape.test(entry)) hits.push(`entry ${index}: ${what}`);
      for (const secret of exact)
        if (entry.includes(secret)) hits.push(`entry ${index}: a secret of the story`);
    }
    expect(hits).toEqual([]);
  });
});
