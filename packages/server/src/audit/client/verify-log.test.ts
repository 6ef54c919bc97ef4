/**
 * `verifyLog` against a server whose answers are doctored in transit: reordered, inserted and
 * dropped entries are each named at their first bad index; a tree rewritten to match edited
 * entries still fails on the signed root; an intact log passes, in chunks of any size.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDeputy, expectOk, type TestDeputy } from "../../test-support/server.js";
import { hashEntry } from "../hasher.js";
import type { LogSource } from "./log-source.js";
import { type LogErrorCode, LogVerificationError, verifyLog } from "./verify-log.js";

let t: TestDeputy;
let source: LogSource;
beforeAll(async () => {
  t = await createTestDeputy();
  for (let i = 0; i < 25; i++)
    await expectOk(t.api("POST", "/v1/principals", { type: "human", name: `p${i}` }));
  await t.deputy.ledger.integrate();
  const raw = async (url: string) => {
    const res = await t.app.inject({
      method: "GET",
      url,
      headers: { authorization: "Bearer dpa_test-admin-token-0123456789abcdefghijklmnop" },
    });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res;
  };
  source = {
    metadata: async () => (await raw("/.well-known/oauth-authorization-server")).json(),
    checkpoint: async () => (await raw("/v1/audit/checkpoint")).body,
    entries: async (a, b) => new Uint8Array((await raw(`/v1/audit/entries?start=${a}&end=${b}`)).rawPayload),
    leaves: async (a, b) => new Uint8Array((await raw(`/v1/audit/leaves?start=${a}&end=${b}`)).rawPayload),
    consistency: async (a, b) => (await raw(`/v1/audit/proofs/consistency?from=${a}&to=${b}`)).json().hashes,
  };
});
afterAll(async () => t.close());

const lines = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8").split("\n").filter(Boolean);
const jsonl = (items: string[]) => new Uint8Array(Buffer.from(items.map((l) => `${l}\n`).join("")));

async function failure(
  doctored: LogSource,
  chunk = 7,
): Promise<{ code: LogErrorCode; index?: number | undefined }> {
  try {
    await verifyLog({ source: doctored, witness: () => undefined, chunk });
  } catch (e) {
    expect(e).toBeInstanceOf(LogVerificationError);
    return { code: (e as LogVerificationError).code, index: (e as LogVerificationError).index };
  }
  throw new Error("verification passed");
}

/** Rewrites the entries of the whole log, then serves windows of the result. */
function withEntries(edit: (all: string[]) => string[], leavesToo = false): LogSource {
  const all = async () => edit(lines(await source.entries(0, 10_000)));
  return {
    ...source,
    entries: async (a, b) => jsonl((await all()).slice(a, b)),
    ...(leavesToo
      ? {
          leaves: async (a: number, b: number) =>
            new Uint8Array(Buffer.concat((await all()).slice(a, b).map((l) => hashEntry(l)))),
        }
      : {}),
  };
}

describe("verifyLog", () => {
  it("passes an intact log in chunks of any size", async () => {
    for (const chunk of [1, 4, 25, 10_000]) {
      const report = await verifyLog({ source, witness: () => undefined, chunk });
      expect(report.size).toBe(await t.deputy.store.audit.size());
    }
  });

  it("names the first bad index of reordered, inserted and dropped entries", async () => {
    const swap = (all: string[]) => [...all.slice(0, 9), all[10]!, all[9]!, ...all.slice(11)];
    expect(await failure(withEntries(swap))).toEqual({ code: "ERR_AUDIT_ENTRY_EDITED", index: 9 });
    const insert = (all: string[]) => [...all.slice(0, 12), all[3]!, ...all.slice(12)];
    expect(await failure(withEntries(insert))).toEqual({ code: "ERR_AUDIT_ENTRY_EDITED", index: 12 });
    const drop = (all: string[]) => [...all.slice(0, 17), ...all.slice(18)];
    expect(await failure(withEntries(drop))).toEqual({ code: "ERR_AUDIT_ENTRY_EDITED", index: 17 });
    const truncate = (all: string[]) => all.slice(0, 20);
    expect(await failure(withEntries(truncate))).toEqual({ code: "ERR_AUDIT_ENTRY_MISSING", index: 20 });
  });

  it("fails on the signed root when the leaves were rewritten to match an edited entry", async () => {
    const edit = (all: string[]) => all.map((l, i) => (i === 4 ? l.replace("p", "q") : l));
    expect(await failure(withEntries(edit, true))).toEqual({
      code: "ERR_AUDIT_ROOT_MISMATCH",
      index: undefined,
    });
  });

  it("refuses a checkpoint signed by another key and a log key that changed since last time", async () => {
    const meta = await source.metadata();
    const key = meta.audit_log_public_key as string;
    const [origin] = key.split("+");
    const seen = {
      size: 1,
      root: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      key: `${key}x`,
      checkpoint: "",
      verified_at: "",
    };
    await expect(
      verifyLog({ source, witness: (o) => (o === origin ? seen : undefined) }),
    ).rejects.toMatchObject({
      code: "ERR_AUDIT_KEY_CHANGED",
    });
    const flipLastByte = (note: string) =>
      note.replace(/ (\S+)\n$/, (_, b64: string) => {
        const sig = Buffer.from(b64, "base64");
        sig[sig.length - 1]! ^= 1;
        return ` ${sig.toString("base64")}\n`;
      });
    const forged = { ...source, checkpoint: async () => flipLastByte(await source.checkpoint()) };
    expect(await failure(forged)).toMatchObject({ code: "ERR_AUDIT_BAD_SIGNATURE" });
    const renamed = {
      ...source,
      checkpoint: async () => (await source.checkpoint()).replace(/\u2014 \S+ /, "\u2014 other.example/log "),
    };
    expect(await failure(renamed)).toMatchObject({ code: "ERR_AUDIT_UNKNOWN_KEY" });
  });
});
