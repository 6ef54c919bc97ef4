/**
 * What `deputy audit verify` reads from a Deputy server, over HTTP: the metadata, the checkpoint,
 * entries and leaf hashes in bulk, and consistency proofs. An interface, so the verification
 * itself (`verify-log.ts`) is tested against doctored sources as well as a live server.
 *
 * @example
 * const source = httpLogSource("http://127.0.0.1:4747", adminToken);
 * const note = await source.checkpoint();
 */
import { DeputyClientError } from "@deputy/sdk";

export interface LogSource {
  /** RFC 8414 metadata (`audit_log_public_key`, `audit_checkpoint_endpoint`). */
  metadata(): Promise<Record<string, unknown>>;
  /** The signed checkpoint note. */
  checkpoint(): Promise<string>;
  /** Entries [start, end) as JSON Lines bytes (fewer lines if the log is shorter). */
  entries(start: number, end: number): Promise<Uint8Array>;
  /** The stored leaf hashes for [start, end), 32 bytes each. */
  leaves(start: number, end: number): Promise<Uint8Array>;
  /** Base64 hashes of the consistency proof from `from` to `to`. */
  consistency(from: number, to: number): Promise<string[]>;
}

/**
 * A {@link LogSource} over a server's HTTP API; `token` is needed for the entries.
 *
 * @example
 * const source = httpLogSource("https://deputy.example", adminToken);
 */
export function httpLogSource(baseUrl: string, token: string | null): LogSource {
  const get = async (path: string): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    } catch (e) {
      throw new DeputyClientError(0, "ERR_NETWORK", `could not reach Deputy at ${baseUrl}`, { cause: e });
    }
    if (!res.ok) throw await DeputyClientError.fromResponse(res);
    return res;
  };
  const bytes = async (path: string) => new Uint8Array(await (await get(path)).arrayBuffer());
  return {
    metadata: async () =>
      (await get("/.well-known/oauth-authorization-server")).json() as Promise<Record<string, unknown>>,
    checkpoint: async () => (await get("/v1/audit/checkpoint")).text(),
    entries: (start, end) => bytes(`/v1/audit/entries?start=${start}&end=${end}`),
    leaves: (start, end) => bytes(`/v1/audit/leaves?start=${start}&end=${end}`),
    consistency: async (from, to) =>
      (
        (await (await get(`/v1/audit/proofs/consistency?from=${from}&to=${to}`)).json()) as {
          hashes: string[];
        }
      ).hashes,
  };
}
