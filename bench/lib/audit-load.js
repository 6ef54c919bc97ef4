/**
 * What the ledger benchmark and `bench/tools/append-loop.js` append: one token-issuance entry, and
 * a store with an `Audit` and an `AuditLedger` set up as `deputy serve` sets them up.
 *
 * @example
 * const { store, audit, ledger } = await openAuditTarget({ url: `sqlite:${path}` });
 * ledger.follow(audit);
 * ledger.start();
 * await audit.record(auditEvent(0));
 */
import { protocolModule, serverModule } from "./paths.js";

const { newTokenId } = await import(protocolModule("ids.js"));

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * A well-formed id (prefix and 26 lowercase base32 characters) derived from `n`: scattered like
 * Deputy's random ids, so that appends land all over the indexes keyed by them, as in production.
 */
export function benchId(prefix, n) {
  let h = (n + 0x9e3779b9) | 0;
  let out = `${prefix}_`;
  for (let k = 0; k < 26; k++) {
    // A 32-bit integer mix (murmur3's finaliser) per character.
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    out += ALPHABET[h & 31];
    h = (h + n + k) | 0;
  }
  return out;
}

const AGENTS = Array.from({ length: 100 }, (_, k) => benchId("agt", k));
const GRANTS = Array.from({ length: 100 }, (_, k) => benchId("grt", k));
const PRINCIPALS = Array.from({ length: 10 }, (_, k) => benchId("prn", k));

/**
 * The benchmark's entry: a token issued, numbered by `i`, to one of 100 agents (of 10 principals),
 * each token id its own and minted as Deputy mints them (time first, then 128 random bits): the
 * entries spread over the agent and principal indexes as a busy server's do, rather than all
 * appending at one end of them, and meet the token index where a busy server's issuance does.
 */
export function auditEvent(i) {
  const a = i % 100;
  return {
    action: "token.issued",
    decision: "allowed",
    actor: {
      agent: AGENTS[a],
      chain: [],
      principal: PRINCIPALS[a % 10],
      kind: "agent",
    },
    target: AGENTS[a],
    resource: "https://api.bench.test",
    tokenId: newTokenId(Date.now()),
    grantId: GRANTS[a],
    details: { dpop: true, exp: 1767225900, grant_type: "client_credentials", scope: "read write" },
  };
}

/**
 * The benchmarks' append load: `appenders` concurrent callers, each awaiting its `Audit.record`
 * (answered after its COMMIT) and yielding to I/O between appends as request handlers do, for
 * `seconds`. Entries are numbered from `first` as each is made: the callers one commit answers
 * resume together, and a counter bumped after the append would give them all the same entry.
 * `onAppended(index)` sees each entry's index. Resolves to the number appended.
 *
 * @example
 * const appended = await appendLoad(audit, { seconds: 6, first: await store.audit.size() });
 */
export async function appendLoad(audit, { seconds, first, onAppended = () => {}, appenders = 256 }) {
  let stop = false;
  let next = first;
  let appended = 0;
  const appender = async () => {
    while (!stop) {
      onAppended(await audit.record(auditEvent(next++)));
      appended++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const running = Array.from({ length: appenders }, appender);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stop = true;
  await Promise.all(running);
  return appended;
}

/**
 * Opens the store (`openStore` options) with an `Audit` on the wall clock and an `AuditLedger`
 * (not started, not following: the caller decides).
 */
export async function openAuditTarget(storeOptions) {
  const { openStore } = await import(serverModule("store/open.js"));
  const { Audit } = await import(serverModule("audit/record.js"));
  const { AuditLedger } = await import(serverModule("audit/ledger.js"));
  const { createLogger } = await import(serverModule("serve.js"));
  const { MasterKeyRing } = await import(serverModule("crypto/master-key-ring.js"));
  const store = await openStore(storeOptions);
  const clock = { now: () => Date.now() };
  const audit = new Audit(store, clock);
  const ledger = await AuditLedger.open({
    store,
    clock,
    log: createLogger("silent"),
    masterKeys: MasterKeyRing.from([Buffer.alloc(32, 3)]),
    issuer: "http://127.0.0.1:4747",
  });
  return { store, audit, ledger };
}
