/**
 * The CLI's HTTP client for Deputy's management API, authenticated with the admin (or a
 * principal) token. Where the server and token come from, first match wins:
 * URL: `--url`, `DEPUTY_URL`, `http://127.0.0.1:4747`;
 * token: `--token`, `DEPUTY_ADMIN_TOKEN`, `<DEPUTY_DATA_DIR or ./.deputy>/admin.token` (the last only
 * for a server on this machine, so a local admin token never travels elsewhere).
 *
 * @example
 * const api = await connect({ url: undefined, token: undefined });
 * const agent = await api.get("/v1/agents/agt_…");
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DeputyClientError } from "@deputy/sdk";
import { CliError } from "./errors.js";

export const DEFAULT_URL = "http://127.0.0.1:4747";

export interface ConnectionOptions {
  url?: string | undefined;
  token?: string | undefined;
}

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string | null,
    private readonly tokenSource: string,
  ) {}

  get<T = Record<string, unknown>>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, v);
    const qs = params.toString();
    return this.request<T>("GET", qs ? `${path}?${qs}` : path);
  }

  post<T = Record<string, unknown>>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  /** Any request; throws {@link DeputyClientError} for error answers. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new DeputyClientError(0, "ERR_NETWORK", `could not reach Deputy at ${this.url}`, { cause: e });
    }
    if (!res.ok) {
      const error = await DeputyClientError.fromResponse(res);
      if (error.code === "ERR_UNAUTHENTICATED" && !this.token) {
        throw new CliError(
          error.code,
          `no admin token: ${this.tokenSource}`,
          "start `deputy serve` in this directory (it writes ./.deputy/admin.token), or pass --token / set DEPUTY_ADMIN_TOKEN.",
        );
      }
      throw error;
    }
    const text = await res.text();
    return (text.length > 0 ? JSON.parse(text) : {}) as T;
  }
}

/**
 * Resolves the server URL and the admin token (see the module docs) into a client.
 *
 * @example
 * const api = await connect(command.optsWithGlobals());
 */
export async function connect(
  options: ConnectionOptions,
  env: Record<string, string | undefined> = process.env,
): Promise<ApiClient> {
  const url = (options.url ?? env.DEPUTY_URL ?? DEFAULT_URL).replace(/\/+$/, "");
  if (options.token) return new ApiClient(url, options.token, "--token");
  if (env.DEPUTY_ADMIN_TOKEN) return new ApiClient(url, env.DEPUTY_ADMIN_TOKEN, "DEPUTY_ADMIN_TOKEN");
  const path = resolve(join(env.DEPUTY_DATA_DIR || ".deputy", "admin.token"));
  // The local admin token belongs to the local server: never send it to another machine.
  if (!isLoopback(url)) {
    return new ApiClient(url, null, `${path} is only used for a server on this machine; pass --token`);
  }
  try {
    const token = (await readFile(path, "utf8")).trim();
    return new ApiClient(url, token || null, `${path} is empty`);
  } catch {
    return new ApiClient(url, null, `no --token, no DEPUTY_ADMIN_TOKEN, and no ${path}`);
  }
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}
