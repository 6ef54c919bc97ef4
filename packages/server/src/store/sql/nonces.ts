/**
 * SQL implementation of {@link NonceStore}.
 *
 * @example
 * if (!(await new SqlNonceStore(ctx).consumeOnce(`dpop:${jti}`, exp))) throw replay();
 */
import { sql } from "kysely";
import type { NonceStore } from "../index.js";
import { affected, type SqlContext } from "./context.js";

export class SqlNonceStore implements NonceStore {
  constructor(private readonly ctx: SqlContext) {}

  async consumeOnce(key: string, expiresAt: number, now: number = Date.now()): Promise<boolean> {
    // One statement: a fresh key is inserted; an expired one is taken over; a live one returns no row.
    const r = await sql<{ key: string }>`
      INSERT INTO used_nonces (key, expires_at) VALUES (${key}, ${expiresAt})
      ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
      WHERE used_nonces.expires_at < ${now}
      RETURNING key`.execute(this.ctx.db);
    return r.rows.length === 1;
  }

  async purgeExpired(now: number): Promise<number> {
    const r = await this.ctx.db.deleteFrom("used_nonces").where("expires_at", "<", now).executeTakeFirst();
    return affected(r.numDeletedRows);
  }
}
