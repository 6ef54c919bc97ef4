/**
 * Record factories for the store conformance suite: unique ids, realistic values, and JSON
 * columns with nesting and non-ASCII text so round-trips are really exercised.
 *
 * @example
 * const p = principal();
 * await store.principals.create(p);
 * const { agent: a } = await seedAgent(store, p.id);
 */
import { randomBytes } from "node:crypto";
import type {
  AgentKeyRecord,
  AgentRecord,
  AuditRecord,
  EntryTemplate,
  GrantRecord,
  IssuerKeyRecord,
  PrincipalRecord,
  PrincipalTokenRecord,
  ProvenanceIssuerRecord,
  ResourceRecord,
  Store,
  TokenRecord,
} from "../index.js";

let counter = 0;

/** A unique id with a readable prefix. */
export function uid(prefix: string): string {
  counter += 1;
  return `${prefix}_${randomBytes(6).toString("hex")}${counter.toString(36)}`;
}

/** A fixed base time (2025-01-01T00:00:00Z) so tests don't depend on the clock. */
export const T0 = 1_735_689_600_000;

export function principal(o: Partial<PrincipalRecord> = {}): PrincipalRecord {
  return {
    id: uid("prn"),
    type: "human",
    name: "Ada Lovelace",
    email: "ada@example.com",
    status: "active",
    createdAt: T0,
    disabledAt: null,
    ...o,
  };
}

export function principalToken(
  principalId: string,
  o: Partial<PrincipalTokenRecord> = {},
): PrincipalTokenRecord {
  return {
    id: uid("ptk"),
    principalId,
    tokenHash: randomBytes(32).toString("hex"),
    createdAt: T0,
    revokedAt: null,
    ...o,
  };
}

export function agent(principalId: string, o: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id: uid("agt"),
    principalId,
    parentId: null,
    chain: [],
    name: "research-bot",
    description: "Fetches papers — “quoted” ✓",
    status: "active",
    provenance: { runtime: "node", version: 20, tags: ["a", "b"], nested: { ok: true, n: null } },
    createdAt: T0,
    revokedAt: null,
    revokeReason: null,
    enrollmentId: null,
    ceiling: null,
    verifiedProvenance: null,
    temporaryUntil: null,
    claimedAt: null,
    ...o,
  };
}

/** A sub-agent of `parent` with the correct chain. */
export function subAgent(parent: AgentRecord, o: Partial<AgentRecord> = {}): AgentRecord {
  return agent(parent.principalId, { parentId: parent.id, chain: [parent.id, ...parent.chain], ...o });
}

export function agentKey(agentId: string, o: Partial<AgentKeyRecord> = {}): AgentKeyRecord {
  const x = randomBytes(32).toString("base64url");
  return {
    agentId,
    kid: uid("kid"),
    jwk: { kty: "OKP", crv: "Ed25519", x },
    alg: "EdDSA",
    createdAt: T0,
    removedAt: null,
    ...o,
  };
}

export function grant(a: AgentRecord, o: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id: uid("grt"),
    agentId: a.id,
    principalId: a.principalId,
    parentGrantId: null,
    scopes: ["files:read", "mail:send"],
    resources: ["https://api.example.com", "urn:deputy:ünïcode"],
    expiresAt: T0 + 3_600_000,
    maxDelegationDepth: 2,
    constraints: { max_tokens: 10, not_before: T0 },
    tokensIssued: 0,
    status: "active",
    createdAt: T0,
    revokedAt: null,
    ...o,
  };
}

export function resource(o: Partial<ResourceRecord> = {}): ResourceRecord {
  const id = uid("res");
  return {
    id,
    audience: `https://${id}.example.com`,
    name: "Example API",
    secretHash: randomBytes(32).toString("hex"),
    allowBearer: false,
    builtin: false,
    createdAt: T0,
    requireProvenance: false,
    codeDigests: null,
    acceptUnboundProvenance: false,
    ...o,
  };
}

export function provenanceIssuer(o: Partial<ProvenanceIssuerRecord> = {}): ProvenanceIssuerRecord {
  return {
    id: uid("pvi"),
    name: "CI",
    issuer: `https://${uid("ci")}.example`,
    jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "abc" }] },
    requireKeyBinding: true,
    createdAt: T0,
    ...o,
  };
}

export function token(g: GrantRecord, o: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: uid("tok"),
    agentId: g.agentId,
    principalId: g.principalId,
    grantId: g.id,
    audience: "https://api.example.com",
    scope: "files:read",
    jkt: randomBytes(32).toString("base64url"),
    statusIdx: 0,
    parentTokenId: null,
    issuedAt: T0,
    expiresAt: T0 + 300_000,
    kid: "issuer-1",
    revokedAt: null,
    ...o,
  };
}

export function issuerKey(o: Partial<IssuerKeyRecord> = {}): IssuerKeyRecord {
  const kid = uid("isk");
  return {
    kid,
    alg: "EdDSA",
    publicJwk: { kty: "OKP", crv: "Ed25519", x: randomBytes(32).toString("base64url"), kid, use: "sig" },
    privateKeyEnc: randomBytes(64).toString("base64url"),
    status: "active",
    createdAt: T0,
    retiredAt: null,
    publishUntil: null,
    ...o,
  };
}

export function auditFields(
  o: Partial<Omit<AuditRecord, "index" | "entry">> = {},
): Omit<AuditRecord, "index" | "entry"> {
  return {
    at: T0,
    action: "token.issue",
    decision: "allowed",
    actorAgent: "agt_1",
    actorChain: ["agt_parent", "agt_root"],
    actorPrincipal: "prn_1",
    target: "https://api.example.com",
    resource: "https://api.example.com",
    tokenId: "tok_1",
    grantId: "grt_1",
    ...o,
  };
}

/** The entry template used by the suite: `{ index, ...fields }` as JSON. */
export function entryFor(fields: Omit<AuditRecord, "index" | "entry">): EntryTemplate {
  // Renders as JSON.stringify({ index, ...fields }).
  return { head: '{"index":', tail: `,${JSON.stringify(fields).slice(1)}` };
}

/** Creates a principal, an agent with one key and an active grant. */
export async function seedAgent(
  store: Store,
  principalId?: string,
): Promise<{ principal: string; agent: AgentRecord; key: AgentKeyRecord; grant: GrantRecord }> {
  let pid = principalId;
  if (pid === undefined) {
    const p = principal();
    await store.principals.create(p);
    pid = p.id;
  }
  const a = agent(pid);
  const k = agentKey(a.id);
  await store.agents.create(a, [k]);
  const g = grant(a);
  await store.grants.create(g);
  return { principal: pid, agent: a, key: k, grant: g };
}

/** Reads every page of a keyset-paginated list. */
export async function drain<T extends { createdAt: number; id: string }>(
  list: (page: {
    limit: number;
    after?: { createdAt: number; id: string };
  }) => Promise<{ items: T[]; hasMore: boolean }>,
  limit: number,
): Promise<T[]> {
  const all: T[] = [];
  let after: { createdAt: number; id: string } | undefined;
  for (;;) {
    const page = await list(after ? { limit, after } : { limit });
    all.push(...page.items);
    const last = page.items.at(-1);
    if (!page.hasMore || !last) {
      if (page.hasMore) throw new Error("hasMore with an empty page");
      return all;
    }
    if (page.items.length !== limit) throw new Error(`short page (${page.items.length}) with hasMore`);
    after = { createdAt: last.createdAt, id: last.id };
  }
}

/** Sort key for keyset order: (createdAt, id) ascending, comparing ids bytewise. */
export function byCreatedThenId(
  a: { createdAt: number; id: string },
  b: { createdAt: number; id: string },
): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
