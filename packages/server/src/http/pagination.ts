/**
 * List pagination (DESIGN §4): `limit` (1..200, default 50) and an opaque `cursor`; answers
 * `{items, next_cursor}`. The cursor is base64url JSON of the last item's sort key, so a tampered
 * cursor is at worst a different starting point, never a way around visibility filters.
 *
 * @example
 * const page = pageRequest(query);
 * return listBody(await store.agents.list(filter, page), agentJson);
 */
import { DeputyError } from "@deputy/protocol";
import type { Page, PageRequest } from "../store/index.js";

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

export function pageRequest(query: { limit?: string | undefined; cursor?: string | undefined }): PageRequest {
  let limit = DEFAULT_LIMIT;
  if (query.limit !== undefined) {
    if (!/^\d{1,4}$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > MAX_LIMIT) {
      throw new DeputyError("ERR_INVALID_REQUEST", `limit must be an integer 1..${MAX_LIMIT}`);
    }
    limit = Number(query.limit);
  }
  if (query.cursor === undefined || query.cursor === "") return { limit };
  return { limit, after: decodeCursor(query.cursor) };
}

export function encodeCursor(key: { createdAt: number; id: string }): string {
  return Buffer.from(JSON.stringify([key.createdAt, key.id])).toString("base64url");
}

export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  try {
    if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error("charset");
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      Number.isSafeInteger(v[0]) &&
      typeof v[1] === "string" &&
      v[1].length <= 64
    ) {
      return { createdAt: v[0] as number, id: v[1] as string };
    }
  } catch {
    // fall through to the error below
  }
  throw new DeputyError("ERR_INVALID_CURSOR", "cursor is not one this server issued; start again without it");
}

export function listBody<T extends { createdAt: number; id: string }, J>(page: Page<T>, toJson: (t: T) => J) {
  const last = page.items[page.items.length - 1];
  return { items: page.items.map(toJson), next_cursor: page.hasMore && last ? encodeCursor(last) : null };
}
