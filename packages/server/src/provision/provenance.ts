/**
 * Provenance: where an agent came from. A *provenance issuer* (a CI system, an agent platform) is
 * registered with its public keys; a *software statement* is a JWT it signs for one launch
 * (`sub` = the launcher's id for this run, `software_id`, `software_version`, `code_digest`,
 * `model`, `runtime`, `launched_by`, `iat`, `exp`). Deputy verifies it at registration and keeps
 * its claims apart from whatever the agent asserts about itself.
 *
 * RFC 8725 §3.1: only the algorithms on Deputy's allow-list (EdDSA, ES256) are accepted; `iss`
 * must name a registered issuer; `exp` is required and checked against Deputy's clock.
 *
 * A statement alone is a bearer assertion: whoever holds it could attach it to any registration.
 * Two claims close that. `cnf: {jkt}` (RFC 7800 §3.1, the RFC 7638 thumbprint of the agent's key)
 * binds it to the agent being registered: it must name the registration's only key (and no key
 * can be added to that agent later), and an issuer with `require_key_binding` has unbound
 * statements refused. A `jti` makes it single-use: it is consumed in the nonce store
 * (`stmt:<issuer id>:<jti>`, until `exp`) by the transaction that creates the agent
 * ({@link consumeStatement}).
 *
 * @example
 * const prov = await resolveProvenance(deputy, { software_statement: jwt, model: "claude" });
 * // { selfAsserted: { model: "claude" }, verified: { iss: "https://ci.example", code_digest: "sha256:…", … } }
 */
import { ALLOWED_ALGS, DeputyError, newId } from "@deputy/protocol";
import { decodeJwt, errors as joseErrors, jwtVerify } from "jose";
import type { Deputy } from "../context.js";
import { importAgentPublicJwk } from "../crypto/jwk.js";
import { isStorableText } from "../crypto/text.js";
import { actorOf, type Caller, notFound, requireAdmin } from "../identity/caller.js";
import {
  type AgentRecord,
  type ProvenanceIssuerRecord,
  type Store,
  StoreConflictError,
  type VerifiedProvenance,
} from "../store/index.js";

/** Most keys one provenance issuer may register. */
export const MAX_ISSUER_KEYS = 10;
/** Largest software statement accepted (compact JWS characters). */
export const MAX_STATEMENT_CHARS = 16_384;
/** Largest self-asserted provenance kept with an agent (characters of its JSON). */
export const MAX_SELF_ASSERTED_CHARS = 4096;
/** Longest `jti` a software statement may carry. */
export const MAX_STATEMENT_JTI_CHARS = 256;

/** The string claims a software statement may carry, besides `iss`, `sub`, `iat`, `exp`. */
const STATEMENT_FIELDS = [
  "software_id",
  "software_version",
  "code_digest",
  "model",
  "runtime",
  "launched_by",
] as const;

/**
 * Registers a provenance issuer (admin only). Keys must be public Ed25519 or P-256 JWKs; `issuer`
 * must be unique. `requireKeyBinding` defaults to true: its statements must carry `cnf.jkt`.
 *
 * @example
 * await createProvenanceIssuer(deputy, admin, { name: "CI", issuer: "https://ci.example", jwks: { keys: [jwk] } });
 */
export async function createProvenanceIssuer(
  d: Deputy,
  caller: Caller,
  input: {
    name: string;
    issuer: string;
    jwks: { keys: unknown[] };
    requireKeyBinding?: boolean | undefined;
  },
): Promise<ProvenanceIssuerRecord> {
  requireAdmin(caller, "registering a provenance issuer");
  const keys = publicIssuerKeys(input.jwks);
  const record: ProvenanceIssuerRecord = {
    id: newId("pvi"),
    name: input.name,
    issuer: input.issuer,
    jwks: { keys },
    requireKeyBinding: input.requireKeyBinding ?? true,
    createdAt: d.clock.now(),
  };
  try {
    await d.store.transaction(async (tx) => {
      await tx.provenanceIssuers.create(record);
      await d.audit.record(
        {
          action: "provenance_issuer.created",
          decision: "allowed",
          actor: actorOf(caller),
          target: record.id,
          details: {
            issuer: record.issuer,
            keys: keys.map((k) => k.kid),
            require_key_binding: record.requireKeyBinding,
          },
        },
        tx,
      );
    });
  } catch (e) {
    if (e instanceof StoreConflictError) {
      throw new DeputyError("ERR_CONFLICT", `a provenance issuer for ${input.issuer} is already registered`);
    }
    throw e;
  }
  return record;
}

/**
 * Changes a provenance issuer (admin): turns key binding on (or off), which is how an issuer
 * registered before Deputy supported binding is made to require it once its launcher sends
 * `cnf.jkt`; and/or replaces its key set, which is how a launcher's key is rotated or a leaked one
 * withdrawn: statements signed by a key no longer in the set are refused from then on. Applies to
 * registrations from then on; agents already registered keep their label.
 *
 * @example
 * await updateProvenanceIssuer(deputy, admin, "pvi_…", { requireKeyBinding: true });
 * await updateProvenanceIssuer(deputy, admin, "pvi_…", { jwks: { keys: [newLauncherJwk] } });
 */
export async function updateProvenanceIssuer(
  d: Deputy,
  caller: Caller,
  id: string,
  change: { requireKeyBinding?: boolean | undefined; jwks?: { keys: unknown[] } | undefined },
): Promise<ProvenanceIssuerRecord> {
  requireAdmin(caller, "changing a provenance issuer");
  const jwks = change.jwks === undefined ? undefined : { keys: publicIssuerKeys(change.jwks) };
  return d.store.transaction(async (tx) => {
    const updated = await tx.provenanceIssuers.update(id, {
      requireKeyBinding: change.requireKeyBinding,
      jwks,
    });
    if (!updated) throw notFound("provenance issuer", id);
    await d.audit.record(
      {
        action: "provenance_issuer.updated",
        decision: "allowed",
        actor: actorOf(caller),
        target: id,
        details: {
          issuer: updated.issuer,
          require_key_binding: updated.requireKeyBinding,
          ...(jwks ? { keys: jwks.keys.map((k) => k.kid) } : {}),
        },
      },
      tx,
    );
    return updated;
  });
}

/**
 * Removes a provenance issuer (admin): registrations presenting its statements are refused from
 * then on, as for any unregistered issuer. Agents it vouched for keep the provenance recorded when
 * they registered (it was verified then); revoke them to withdraw it. The issuer URL can be
 * registered again. Audited as `provenance_issuer.removed`.
 *
 * @example
 * await removeProvenanceIssuer(d, { kind: "admin" }, "pvi_…");
 */
export async function removeProvenanceIssuer(
  d: Deputy,
  caller: Caller,
  id: string,
): Promise<ProvenanceIssuerRecord> {
  requireAdmin(caller, "removing a provenance issuer");
  return d.store.transaction(async (tx) => {
    const removed = await tx.provenanceIssuers.remove(id);
    if (!removed) throw notFound("provenance issuer", id);
    await d.audit.record(
      {
        action: "provenance_issuer.removed",
        decision: "allowed",
        actor: actorOf(caller),
        target: id,
        details: { issuer: removed.issuer, keys: removed.jwks.keys.map((k) => k.kid) },
      },
      tx,
    );
    return removed;
  });
}

/** The public keys of an issuer's key set, checked as at registration (no private members). */
function publicIssuerKeys(jwks: { keys: unknown[] }): Array<Record<string, unknown>> {
  if (jwks.keys.length === 0 || jwks.keys.length > MAX_ISSUER_KEYS) {
    throw new DeputyError("ERR_INVALID_REQUEST", `jwks.keys must hold 1..${MAX_ISSUER_KEYS} public keys`);
  }
  return jwks.keys.map((k) => importAgentPublicJwk(k).jwk as unknown as Record<string, unknown>);
}

/**
 * What the registering transaction checks again about a verified statement (consumeStatement):
 * the issuer and the key that verified it, read before the transaction, may have been removed or
 * changed since.
 */
export interface StatementUse {
  issuerId: string;
  /** RFC 7638 thumbprint of the issuer's key that verified the statement. */
  keyKid: string;
  /** Whether the statement is bound to the agent's key (cnf.jkt). */
  bound: boolean;
  /** Set when the statement has a `jti`: it registers one agent. */
  once: {
    key: string;
    /** Epoch ms: the statement's `exp` plus the clock skew, after which it is refused anyway. */
    expiresAt: number;
  } | null;
}

/** What an agent carries: self-asserted fields and, separately, verified statement claims. */
export interface ResolvedProvenance {
  selfAsserted: Record<string, unknown> | null;
  verified: VerifiedProvenance | null;
  /** Set with a verified statement: pass it to {@link consumeStatement} in the registering transaction. */
  use: StatementUse | null;
}

/**
 * Splits a registration's `provenance` into the verified statement (when `software_statement`
 * is present, it must verify or the registration is refused) and the self-asserted rest.
 * `agentKeys` are the RFC 7638 thumbprints of the keys being registered: a key-bound statement
 * must name one of them.
 */
export async function resolveProvenance(
  d: Deputy,
  provenance: Record<string, unknown> | undefined,
  agentKeys: readonly string[],
): Promise<ResolvedProvenance> {
  if (provenance === undefined) return { selfAsserted: null, verified: null, use: null };
  const { software_statement: statement, ...rest } = provenance;
  const selfAsserted = Object.keys(rest).length > 0 ? rest : null;
  // Stored with the agent and shown in every answer about it (lists included): kept small, since
  // temporary agents and enrollments register without an account.
  if (selfAsserted && JSON.stringify(selfAsserted).length > MAX_SELF_ASSERTED_CHARS) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      `self-asserted provenance may hold at most ${MAX_SELF_ASSERTED_CHARS} characters of JSON`,
    );
  }
  if (statement === undefined) return { selfAsserted, verified: null, use: null };
  if (typeof statement !== "string") {
    throw new DeputyError("ERR_STATEMENT_INVALID", "provenance.software_statement must be a compact JWT");
  }
  if (statement.length > MAX_STATEMENT_CHARS) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      `software_statement is longer than ${MAX_STATEMENT_CHARS} characters`,
    );
  }
  const { verified, use } = await verifySoftwareStatement(d, statement, agentKeys);
  return { selfAsserted, verified, use };
}

/**
 * Checks a verified statement again inside the transaction that creates the agent (its issuer
 * still registered, the key that signed it still the issuer's, binding still as the issuer
 * requires), then consumes its `jti`, so a refused registration leaves it unused and of two
 * racing registrations exactly one gets it (NonceStore.consumeOnce).
 *
 * @example
 * await d.store.transaction(async (tx) => { await consumeStatement(tx, prov.use, now); … });
 */
export async function consumeStatement(tx: Store, use: StatementUse | null, now: number): Promise<void> {
  if (use === null) return;
  // The statement was verified before this transaction, against the issuer as it was then. An
  // admin who removed the issuer, or replaced its keys, in between has been told that its
  // statements are refused from then on: read it again here, locked until this transaction ends,
  // so that no agent registers on a statement the issuer no longer stands behind.
  const issuer = await tx.provenanceIssuers.get(use.issuerId, { lock: true });
  if (!issuer) {
    throw new DeputyError(
      "ERR_STATEMENT_UNKNOWN_ISSUER",
      "software_statement issuer was removed while this agent registered",
    );
  }
  if (!issuer.jwks.keys.some((k) => importAgentPublicJwk(k).kid === use.keyKid)) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      "software_statement: the issuer's key that signed it was removed while this agent registered",
    );
  }
  if (issuer.requireKeyBinding && !use.bound) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      `software_statement is not bound to the agent's key: issuer ${issuer.issuer} requires cnf.jkt (the RFC 7638 thumbprint of the agent's public key)`,
    );
  }
  if (use.once && !(await tx.nonces.consumeOnce(use.once.key, use.once.expiresAt, now))) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      "software_statement was already used: a statement with a jti registers one agent",
    );
  }
}

/**
 * Verifies a software statement: a compact JWS from a registered provenance issuer, with an
 * allowed algorithm, a valid signature, a `sub` and an unexpired `exp`; bound (`cnf.jkt`) to one
 * of `agentKeys` when it says so or its issuer requires it.
 *
 * @example
 * const { verified, use } = await verifySoftwareStatement(deputy, jwt, [agentKeyThumbprint]);
 * // throws ERR_STATEMENT_* on failure
 */
export async function verifySoftwareStatement(
  d: Deputy,
  jwt: string,
  agentKeys: readonly string[],
): Promise<{ verified: VerifiedProvenance; use: StatementUse | null }> {
  let iss: unknown;
  try {
    iss = decodeJwt(jwt).iss;
  } catch (e) {
    throw new DeputyError("ERR_STATEMENT_INVALID", "software_statement is not a compact JWT", { cause: e });
  }
  if (typeof iss !== "string")
    throw new DeputyError("ERR_STATEMENT_INVALID", "software_statement has no iss");
  if (!isStorableText(iss)) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      "software_statement iss contains U+0000 or an unpaired surrogate",
    );
  }
  const issuer = await d.store.provenanceIssuers.getByIssuer(iss);
  if (!issuer) {
    throw new DeputyError(
      "ERR_STATEMENT_UNKNOWN_ISSUER",
      `software_statement issuer ${iss} is not registered (POST /v1/provenance-issuers)`,
    );
  }
  let payload: Record<string, unknown>;
  let keyKid = "";
  try {
    ({ payload } = await jwtVerify(
      jwt,
      (header) => {
        const keys = issuer.jwks.keys.map((k) => importAgentPublicJwk(k));
        const key =
          header.kid === undefined && keys.length === 1 ? keys[0] : keys.find((k) => k.kid === header.kid);
        if (!key || key.alg !== header.alg) throw new joseErrors.JWKSNoMatchingKey();
        keyKid = key.kid;
        return key.keyObject;
      },
      {
        issuer: iss,
        algorithms: [...ALLOWED_ALGS],
        currentDate: new Date(d.clock.now()),
        clockTolerance: d.config.clockSkew,
        requiredClaims: ["sub", "exp"],
      },
    ));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) {
      throw new DeputyError("ERR_STATEMENT_EXPIRED", "software_statement has expired", { cause: e });
    }
    const reason =
      e instanceof joseErrors.JWSSignatureVerificationFailed
        ? "signature does not verify"
        : e instanceof joseErrors.JWKSNoMatchingKey
          ? "no key of the issuer matches its kid and alg"
          : e instanceof joseErrors.JOSEAlgNotAllowed
            ? "algorithm not allowed (EdDSA or ES256)"
            : (e as Error).message;
    throw new DeputyError("ERR_STATEMENT_INVALID", `software_statement: ${reason}`, { cause: e });
  }
  // jose checks that `sub` is present, not that it is a string: a number or an object would be
  // stringified into the verified record, and an unbounded one stored and shown with every agent.
  if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 512) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      "software_statement claim sub must be a string of 1..512 characters",
    );
  }
  // jose checks `nbf` but not an `iat` in the future (only with maxTokenAge): a statement "issued"
  // later than now, beyond the allowed skew, comes from a broken or forging clock.
  if (typeof payload.iat === "number" && payload.iat > d.clock.now() / 1000 + d.config.clockSkew) {
    throw new DeputyError("ERR_STATEMENT_INVALID", "software_statement: iat is in the future");
  }
  // RFC 7519 §4.1.3: when `aud` is present and does not name us, the JWT MUST be rejected; a
  // statement a launcher addressed to another relying party is not a statement for Deputy.
  if (payload.aud !== undefined) {
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!audiences.includes(d.urls.issuer)) {
      throw new DeputyError(
        "ERR_STATEMENT_INVALID",
        `software_statement: aud does not name this server (${d.urls.issuer})`,
      );
    }
  }
  const bound = checkKeyBinding(payload.cnf, issuer, agentKeys);
  const use: StatementUse = {
    issuerId: issuer.id,
    keyKid,
    bound,
    once: singleUse(payload.jti, payload.exp as number, issuer, d.config.clockSkew),
  };
  const verified: VerifiedProvenance = {
    iss,
    sub: payload.sub,
    software_id: null,
    software_version: null,
    code_digest: null,
    model: null,
    runtime: null,
    launched_by: null,
    iat: typeof payload.iat === "number" ? payload.iat : null,
    exp: payload.exp as number,
    bound,
  };
  for (const f of STATEMENT_FIELDS) {
    const v = payload[f];
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length > 512) {
      throw new DeputyError("ERR_STATEMENT_INVALID", `software_statement claim ${f} must be a string`);
    }
    verified[f] = v;
  }
  return { verified, use };
}

/**
 * RFC 7800 §3.1: `cnf.jkt` names the key the statement was issued for. It must be a key of this
 * registration, so a statement copied from another launch (a CI log, say) verifies for nobody
 * else; an issuer that requires binding has unbound statements refused. Returns whether bound.
 */
function checkKeyBinding(
  cnf: unknown,
  issuer: ProvenanceIssuerRecord,
  agentKeys: readonly string[],
): boolean {
  if (cnf === undefined) {
    if (!issuer.requireKeyBinding) return false;
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      `software_statement is not bound to the agent's key: issuer ${issuer.issuer} requires cnf.jkt (the RFC 7638 thumbprint of the agent's public key)`,
    );
  }
  // Only `jkt` is understood; a statement bound some other way (`jwk`, `kid`) cannot be checked
  // and is refused rather than taken as unbound.
  const jkt =
    typeof cnf === "object" && cnf !== null && !Array.isArray(cnf)
      ? (cnf as { jkt?: unknown }).jkt
      : undefined;
  if (typeof jkt !== "string" || Object.keys(cnf as object).length !== 1) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      "software_statement claim cnf must be {jkt: <RFC 7638 thumbprint of the agent's public key>}",
    );
  }
  if (!agentKeys.includes(jkt)) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      "software_statement is bound to another key: its cnf.jkt is the thumbprint of no key in jwks",
    );
  }
  // Public keys are not secrets: with the launched agent's key listed beside one of its own, a
  // holder of the statement would get the label and authenticate with the other key.
  if (agentKeys.length > 1) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      "software_statement is bound to one key (cnf.jkt): jwks must hold that key alone",
    );
  }
  return true;
}

/** A `jti` makes the statement single-use, keyed by the issuer's id (which holds no `:`). */
function singleUse(
  jti: unknown,
  exp: number,
  issuer: ProvenanceIssuerRecord,
  clockSkew: number,
): StatementUse["once"] {
  if (jti === undefined) return null;
  if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_STATEMENT_JTI_CHARS) {
    throw new DeputyError(
      "ERR_STATEMENT_INVALID",
      `software_statement claim jti must be a string of 1..${MAX_STATEMENT_JTI_CHARS} characters`,
    );
  }
  // Accepted until exp plus the skew, so remembered as long (a whole millisecond count within
  // BIGINT: an issuer's exp may be fractional or absurdly far away).
  const expiresAt = Math.min(Math.ceil((exp + clockSkew) * 1000), Number.MAX_SAFE_INTEGER);
  return { key: `stmt:${issuer.id}:${jti}`, expiresAt };
}

/** The label shown everywhere an agent is shown. */
export function provenanceStatus(a: Pick<AgentRecord, "verifiedProvenance" | "provenance">): string {
  if (a.verifiedProvenance) return "verified";
  return a.provenance ? "self_asserted" : "none";
}
