/**
 * The one error the SDK throws for a refusal by Deputy: an RFC 9457 problem from `/v1` or an
 * RFC 6749 §5.2 error from `/oauth/*`, flattened to `status`, `code` and the server's message.
 *
 * @example
 * try {
 *   await agent.getToken({ resource: "https://api.example.com" });
 * } catch (e) {
 *   if (e instanceof DeputyClientError && e.code === "invalid_client") console.error("agent revoked?", e.message);
 * }
 */
export class DeputyClientError extends Error {
  override readonly name = "DeputyClientError";
  /** HTTP status (0 when the server could not be reached or answered something unreadable). */
  readonly status: number;
  /** The problem's `code` (`ERR_…`) or the OAuth `error` (`invalid_grant`, …). */
  readonly code: string;
  /** The parsed error body, when there was one. */
  readonly body: Record<string, unknown> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options?: { body?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
    this.body = options?.body;
  }

  /**
   * Builds the error from a non-2xx response (reads its body).
   *
   * @example
   * if (!res.ok) throw await DeputyClientError.fromResponse(res);
   */
  static async fromResponse(res: Response): Promise<DeputyClientError> {
    const text = await res.text().catch(() => "");
    let body: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        body = parsed as Record<string, unknown>;
      }
    } catch {
      // Not JSON (a proxy's HTML page, say): keep the status and a snippet.
    }
    const str = (v: unknown) => (typeof v === "string" && v.length > 0 ? v : undefined);
    // RFC 9457 problem: `code`, `detail`; RFC 6749 §5.2: `error`, `error_description`.
    const code = str(body?.code) ?? str(body?.error) ?? `HTTP_${res.status}`;
    const message =
      str(body?.detail) ??
      str(body?.error_description) ??
      str(body?.title) ??
      (text.slice(0, 200) || res.statusText || `HTTP ${res.status}`);
    return new DeputyClientError(res.status, code, message, body === undefined ? undefined : { body });
  }
}
