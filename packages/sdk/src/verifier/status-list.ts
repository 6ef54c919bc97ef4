/**
 * Token Status Lists (draft-ietf-oauth-status-list): fetching a `statuslist+jwt`, checking it
 * like any other signed token (allowed `alg`, issuer key, `typ`, `iss`, `sub` = the URL it was
 * fetched from, `iat`, `exp`, `ttl`), inflating `lst` (ZLIB, RFC 1950) with the web-standard
 * DecompressionStream, and reading a token's status bits.
 *
 * @example
 * const list = await fetchStatusList(uri, { issuer, keys, fetch, nowSec });
 * statusAt(list, 42); // 0 = VALID, 1 = INVALID (revoked)
 */
import { base64url } from "jose";
import type { IssuerKeys } from "./issuer-keys.js";
import { ALLOWED_ALGS, parseCompactJws, verifyJwsSignature } from "./jws.js";

/** A verified status list. */
export interface StatusList {
  uri: string;
  bits: 1 | 2 | 4 | 8;
  bytes: Uint8Array;
  /** `iat`, epoch seconds. */
  iat: number;
  /** `exp`, epoch seconds, when present. */
  exp: number | undefined;
  /** `ttl` in seconds, when present (§5.1: how long it may be cached). */
  ttl: number | undefined;
}

/** Why a status list was refused; reported through the verifier's `onError`. */
export class StatusListError extends Error {
  override readonly name = "StatusListError";
  constructor(
    readonly code:
      | "ERR_STATUS_LIST_FETCH"
      | "ERR_STATUS_LIST_MALFORMED"
      | "ERR_STATUS_LIST_SIGNATURE"
      | "ERR_STATUS_LIST_SUB"
      | "ERR_STATUS_LIST_EXPIRED",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bigger than any list Deputy serves (2^16 one-bit statuses = 8 KiB), small enough to bound a zip bomb. */
const MAX_INFLATED_BYTES = 1 << 22;

/**
 * Inflates ZLIB data (RFC 1950; "deflate" in the Compression Streams standard), refusing output
 * beyond `maxBytes`.
 *
 * @example
 * const bytes = await inflateZlib(base64url.decode("eNrbuRgAAhcBXQ")); // [0xb9, 0xa3]
 */
export async function inflateZlib(
  data: Uint8Array<ArrayBuffer>,
  maxBytes = MAX_INFLATED_BYTES,
): Promise<Uint8Array> {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate"));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error(`status list inflates to more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The status of index `idx` (§4.1: statuses are packed from the least significant bit of byte 0
 * upward), or undefined when the list is too short to hold it.
 *
 * @example
 * statusAt({ bits: 1, bytes: new Uint8Array([0xb9, 0xa3]) }, 0); // 1 (the draft's §4.1 example)
 */
export function statusAt(list: Pick<StatusList, "bits" | "bytes">, idx: number): number | undefined {
  const bitIndex = idx * list.bits;
  const byte = list.bytes[Math.floor(bitIndex / 8)];
  if (byte === undefined || !Number.isSafeInteger(idx) || idx < 0) return undefined;
  return (byte >> (bitIndex % 8)) & ((1 << list.bits) - 1);
}

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * Checks a status list token fetched from `uri` and decodes its list.
 *
 * @example
 * const list = await parseStatusListToken(jwt, uri, { issuer, keys, nowSec, leewaySec: 5 });
 */
export async function parseStatusListToken(
  jwt: string,
  uri: string,
  ctx: { issuer: string; keys: IssuerKeys; nowSec: number; leewaySec: number },
): Promise<StatusList> {
  const jws = parseCompactJws(jwt.trim(), 1 << 20);
  if (typeof jws === "string")
    throw new StatusListError("ERR_STATUS_LIST_MALFORMED", `status list token ${jws}`);
  // §5.1: explicit typing, so no other JWT can pass for a status list (RFC 8725 §3.11).
  if (jws.header.typ !== "statuslist+jwt") {
    throw new StatusListError("ERR_STATUS_LIST_MALFORMED", 'status list token typ must be "statuslist+jwt"');
  }
  if (!ALLOWED_ALGS.includes(jws.header.alg as string)) {
    throw new StatusListError("ERR_STATUS_LIST_SIGNATURE", "status list token alg is not allowed");
  }
  const kid = jws.header.kid;
  const key = typeof kid === "string" ? await ctx.keys.resolve(kid) : undefined;
  if (!key || !(await verifyJwsSignature(jws, key))) {
    throw new StatusListError(
      "ERR_STATUS_LIST_SIGNATURE",
      "status list token is not signed by an issuer key",
    );
  }
  const c = jws.payload;
  if (c.iss !== undefined && c.iss !== ctx.issuer) {
    throw new StatusListError("ERR_STATUS_LIST_SIGNATURE", "status list token was issued by another issuer");
  }
  // §8.3 step 3: `sub` must be the URI the referenced token points to.
  if (c.sub !== uri)
    throw new StatusListError(
      "ERR_STATUS_LIST_SUB",
      "status list token sub is not the URI it was fetched from",
    );
  if (!isNumber(c.iat))
    throw new StatusListError("ERR_STATUS_LIST_MALFORMED", "status list token has no numeric iat");
  if (c.iat > ctx.nowSec + ctx.leewaySec)
    throw new StatusListError("ERR_STATUS_LIST_MALFORMED", "status list token iat is in the future");
  if (c.exp !== undefined && (!isNumber(c.exp) || c.exp <= ctx.nowSec - ctx.leewaySec)) {
    throw new StatusListError("ERR_STATUS_LIST_EXPIRED", "status list token has expired");
  }
  if (c.ttl !== undefined && (!isNumber(c.ttl) || c.ttl <= 0)) {
    throw new StatusListError("ERR_STATUS_LIST_MALFORMED", "status list token ttl must be a positive number");
  }
  const sl = c.status_list as { bits?: unknown; lst?: unknown } | undefined;
  if (
    typeof sl !== "object" ||
    sl === null ||
    ![1, 2, 4, 8].includes(sl.bits as number) ||
    typeof sl.lst !== "string"
  ) {
    throw new StatusListError(
      "ERR_STATUS_LIST_MALFORMED",
      "status list token has no valid status_list {bits, lst}",
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await inflateZlib(base64url.decode(sl.lst) as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new StatusListError("ERR_STATUS_LIST_MALFORMED", "status list lst is not base64url ZLIB data", {
      cause: e,
    });
  }
  return {
    uri,
    bits: sl.bits as StatusList["bits"],
    bytes,
    iat: c.iat,
    exp: c.exp as number | undefined,
    ttl: c.ttl as number | undefined,
  };
}

/**
 * GETs and checks the status list at `uri` (§8.1: `Accept: application/statuslist+jwt`).
 *
 * @example
 * const list = await fetchStatusList(claims.status.status_list.uri, { issuer, keys, fetch, nowSec, leewaySec: 5 });
 */
export async function fetchStatusList(
  uri: string,
  ctx: { issuer: string; keys: IssuerKeys; fetch: typeof fetch; nowSec: () => number; leewaySec: number },
): Promise<StatusList> {
  let text: string;
  try {
    const res = await ctx.fetch(uri, {
      headers: { accept: "application/statuslist+jwt" },
      redirect: "error",
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
  } catch (e) {
    throw new StatusListError("ERR_STATUS_LIST_FETCH", `status list ${uri} could not be fetched`, {
      cause: e,
    });
  }
  return parseStatusListToken(text, uri, { ...ctx, nowSec: ctx.nowSec() });
}
