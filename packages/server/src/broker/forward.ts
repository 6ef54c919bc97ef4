/**
 * Forwarding one allowed call to the upstream, streaming both ways: the request body flows from
 * the agent's socket to the upstream's and the response back, chunk by chunk with backpressure,
 * never held whole in memory (a buffered body is passed only for calls that needed an approval).
 * Upstream failures become stable errors: a timeout → 504 `ERR_UPSTREAM_TIMEOUT`; a refused or
 * reset connection, DNS or TLS failure → 502 `ERR_UPSTREAM_UNREACHABLE`; an unparseable
 * response → 502 `ERR_UPSTREAM_BAD_RESPONSE`.
 *
 * @example
 * const outcome = await forwardCall({ req, res, upstream, path, headers, timeoutMs: 30_000 });
 */
import { createHash, type Hash } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { DeputyError } from "@deputy/protocol";
import type { ConnectionAuthType } from "../store/index.js";
import { requestHeadersFor, responseHeadersFor } from "./headers.js";
import { reclaimStreamed } from "./reclaim.js";

/** SHA-256 of the empty body (FIPS 180-4). */
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
const httpsAgent = new https.Agent({ keepAlive: true, maxFreeSockets: 256 });

/** How a connection authenticates upstream, with its opened secret. */
export interface UpstreamAuth {
  type: ConnectionAuthType;
  name: string | null;
  secret: string;
}

/**
 * Everything about a connection's upstream that does not change from call to call: its parsed
 * base URL, the agent, the credential header and the forms of the secret to redact. Worked out
 * once per loaded connection (see {@link planUpstream}) instead of on every call.
 */
export interface UpstreamPlan {
  readonly protocol: string;
  /** Without IPv6 brackets, as node:http wants it. */
  readonly hostname: string;
  readonly port: string | undefined;
  /** The `Host` header: host and non-default port. */
  readonly host: string;
  /** The base URL's path without a trailing slash ("" for none). */
  readonly basePath: string;
  readonly agent: http.Agent;
  readonly auth: UpstreamAuth;
  /** The header carrying the credential, or null for `query` auth. */
  readonly credential: readonly [string, string] | null;
  /** Lower-case forms of the secret that an upstream's response headers must not carry. */
  readonly redact: readonly string[];
}

export interface ForwardInput {
  req: IncomingMessage;
  res: ServerResponse;
  /** The connection's upstream, from {@link planUpstream}. */
  upstream: UpstreamPlan;
  /** Raw (still percent-encoded) path after the connection name. */
  rawPath: string;
  query: string;
  timeoutMs: number;
  /** A body already read (calls held for approval); otherwise the request streams through. */
  body?: Buffer | undefined;
}

export interface ForwardOutcome {
  status: number | null;
  bytesIn: number;
  bytesOut: number;
  bodySha256: string;
  /** Set when the upstream failed after the response had started (the client saw a cut stream). */
  error: DeputyError | null;
}

class UpstreamTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer in ${ms} ms`);
  }
}

/** The query with the credential added (`query` auth) and any agent-supplied copy of it removed. */
function queryWith(query: string, auth: UpstreamAuth): string {
  if (auth.type !== "query" || auth.name === null) return query;
  const name = auth.name;
  const kept = query.split("&").filter((pair) => {
    if (pair === "") return false;
    const raw = pair.split("=")[0]!;
    try {
      return decodeURIComponent(raw.replace(/\+/g, " ")) !== name;
    } catch {
      return false;
    }
  });
  kept.push(`${encodeURIComponent(name)}=${encodeURIComponent(auth.secret)}`);
  return kept.join("&");
}

function credentialHeader(auth: UpstreamAuth): [string, string] | null {
  switch (auth.type) {
    case "bearer":
      return ["Authorization", `Bearer ${auth.secret}`]; // RFC 6750 §2.1
    case "basic":
      return ["Authorization", `Basic ${Buffer.from(auth.secret, "utf8").toString("base64")}`]; // RFC 7617 §2
    case "header":
      return [auth.name!, auth.secret];
    case "query":
      return null;
  }
}

/**
 * The forms in which an upstream could echo the credential back, lower-cased: as sent in a header,
 * percent-encoded (RFC 3986, as `query` auth sends it), form-encoded, and base64 (`basic`).
 */
function secretForms(secret: string): string[] {
  const forms = [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    Buffer.from(secret, "utf8").toString("base64"),
  ];
  return [...new Set(forms.filter((f) => f !== "").map((f) => f.toLowerCase()))];
}

/**
 * The per-connection part of forwarding, for a validated base URL (`validateUpstream`).
 *
 * @example
 * const plan = planUpstream("https://api.github.com", { type: "bearer", name: null, secret });
 * await forwardCall({ req, res, upstream: plan, rawPath: "/user", query: "", timeoutMs: 30_000 });
 */
export function planUpstream(upstream: string, auth: UpstreamAuth): UpstreamPlan {
  const base = new URL(upstream);
  const secure = base.protocol === "https:";
  return {
    protocol: base.protocol,
    hostname: base.hostname.replace(/^\[|\]$/g, ""),
    port: base.port || undefined,
    host: base.host,
    basePath: base.pathname === "/" ? "" : base.pathname,
    agent: secure ? httpsAgent : httpAgent,
    auth,
    credential: credentialHeader(auth),
    redact: secretForms(auth.secret),
  };
}

/**
 * Errors only ever raised before any byte of the request reached the upstream: the connection was
 * refused, the name did not resolve, or the TLS handshake failed (which precedes the request). A
 * reset or a timeout is not among them (the upstream may have received the call), nor are
 * EHOSTUNREACH and ENETUNREACH, which Linux also reports on an established, possibly reused,
 * keep-alive socket after the request was written.
 */
const NEVER_DELIVERED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
]);

/** Whether `e` (a {@link forwardCall} rejection) says the upstream never received the call. */
export function neverDelivered(e: unknown): boolean {
  const cause = e instanceof DeputyError ? e.cause : e;
  return NEVER_DELIVERED.has((cause as NodeJS.ErrnoException | undefined)?.code ?? "");
}

export function mapUpstreamError(e: unknown): DeputyError {
  if (e instanceof DeputyError) return e;
  if (e instanceof UpstreamTimeout) {
    return new DeputyError(
      "ERR_UPSTREAM_TIMEOUT",
      `the upstream did not answer within ${e.ms} ms; it may have received the call, so check before repeating one that changes something`,
    );
  }
  const code = (e as NodeJS.ErrnoException).code ?? "";
  if (code.startsWith("HPE_") || (e as Error).message === "Parse Error") {
    return new DeputyError(
      "ERR_UPSTREAM_BAD_RESPONSE",
      "the upstream's response is not valid HTTP/1.1; retrying will not help, tell the connection's admin",
    );
  }
  return new DeputyError(
    "ERR_UPSTREAM_UNREACHABLE",
    `the upstream could not be reached${code ? ` (${code})` : ""}; retry later, and tell the connection's admin if it persists`,
    { cause: e },
  );
}

/**
 * Sends the call and streams the answer. Rejects (before anything was written to `res`) with a
 * mapped {@link DeputyError} when the upstream fails before its response headers; resolves with
 * the outcome otherwise, including when the upstream fails mid-body (then `res` is destroyed).
 */
export function forwardCall(input: ForwardInput): Promise<ForwardOutcome> {
  const { req, res, upstream } = input;
  const { auth } = upstream;
  const query = queryWith(input.query, auth);
  // RFC 9110 §7.2: Host names the upstream, whatever the agent sent (node:http does not add it
  // when headers are given as a list).
  const headers = requestHeadersFor(req.rawHeaders, {
    strip: auth.type === "header" ? auth.name : null,
    host: upstream.host,
  });
  const cred = upstream.credential;
  if (cred) headers.push(cred[0], cred[1]);
  // The body's framing on this hop is always set here, never copied (requestHeadersFor drops the
  // agent's Content-Length and Transfer-Encoding). Without framing of our own, node:http writes a
  // GET or DELETE body raw after the headers, and the upstream reads it as the next request on a
  // shared keep-alive connection (request smuggling, RFC 9112 §6.3 / §11.2) — which is what an
  // agent got by listing `Content-Length` in `Connection`.
  if (input.body !== undefined) {
    headers.push("Content-Length", String(input.body.length));
  } else if (req.headers["transfer-encoding"] !== undefined) {
    // The agent's body was chunked: re-framed as chunked on this hop.
    headers.push("Transfer-Encoding", "chunked");
  } else if (req.headers["content-length"] !== undefined) {
    // node:http has parsed and checked it (one decimal value), and reads exactly that many bytes.
    headers.push("Content-Length", req.headers["content-length"]);
  }
  // Most calls carry no body: their hash is the constant, without a Hash object per call.
  let hash: Hash | null = null;
  let bytesIn = 0;
  let bytesOut = 0;
  let status: number | null = null;

  return new Promise<ForwardOutcome>((resolve, reject) => {
    let settled = false;
    const finish = (error: DeputyError | null) => {
      if (settled) return;
      settled = true;
      resolve({ status, bytesIn, bytesOut, bodySha256: hash?.digest("hex") ?? EMPTY_SHA256, error });
    };
    const upstreamReq = (upstream.protocol === "https:" ? https : http).request({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: `${upstream.basePath}${input.rawPath}${query ? `?${query}` : ""}`,
      headers,
      agent: upstream.agent,
    });
    upstreamReq.setTimeout(input.timeoutMs, () => upstreamReq.destroy(new UpstreamTimeout(input.timeoutMs)));
    upstreamReq.on("error", (e) => {
      const mapped = mapUpstreamError(e);
      if (status === null && !settled) {
        settled = true;
        reject(mapped);
        return;
      }
      res.destroy();
      finish(mapped);
    });
    upstreamReq.on("response", (ures) => {
      status = ures.statusCode ?? 502;
      res.writeHead(status, responseHeadersFor(ures.rawHeaders, { redact: upstream.redact }));
      ures.on("data", (chunk: Buffer) => {
        bytesOut += chunk.length;
        reclaimStreamed(chunk.length);
        if (!res.write(chunk)) {
          ures.pause();
          res.once("drain", () => ures.resume());
        }
      });
      ures.on("end", () => {
        res.end();
        finish(null);
      });
      ures.on("error", (e) => {
        res.destroy();
        finish(mapUpstreamError(e));
      });
      ures.on("aborted", () => {
        res.destroy();
        finish(
          new DeputyError("ERR_UPSTREAM_UNREACHABLE", "the upstream closed the connection mid-response"),
        );
      });
    });
    // The agent went away: stop the upstream call too.
    res.on("close", () => {
      if (!res.writableFinished) {
        upstreamReq.destroy();
        finish(new DeputyError("ERR_INVALID_REQUEST", "the client closed the connection"));
      }
    });
    if (input.body !== undefined) {
      bytesIn = input.body.length;
      hash = createHash("sha256").update(input.body);
      upstreamReq.end(input.body);
      return;
    }
    req.on("data", (chunk: Buffer) => {
      bytesIn += chunk.length;
      reclaimStreamed(chunk.length);
      hash ??= createHash("sha256");
      hash.update(chunk);
      if (!upstreamReq.write(chunk)) {
        req.pause();
        upstreamReq.once("drain", () => req.resume());
      }
    });
    req.on("end", () => upstreamReq.end());
    req.on("error", () => upstreamReq.destroy());
  });
}

/** Reads a body of at most `limit` bytes (calls that need an approval are hashed before anything is sent). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) {
    return Promise.reject(
      new DeputyError(
        "ERR_BODY_TOO_LARGE",
        `a call that needs approval may carry at most ${limit} bytes; send a smaller body`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(
          new DeputyError(
            "ERR_BODY_TOO_LARGE",
            `a call that needs approval may carry at most ${limit} bytes; send a smaller body`,
          ),
        );
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** SHA-256 hex of a buffered body. */
export function sha256Hex(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex");
}
