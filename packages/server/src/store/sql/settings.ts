/**
 * SQL implementation of {@link SettingStore}: small named values in `deputy_settings`.
 *
 * @example
 * const sandbox = await new SqlSettingStore(ctx).setIfAbsent("sandbox_principal", "prn_…");
 */
import { sql } from "kysely";
import type { SettingStore } from "../index.js";
import type { SqlContext } from "./context.js";

export class SqlSettingStore implements SettingStore {
  constructor(private readonly ctx: SqlContext) {}

  async get(name: string): Promise<string | null> {
    const { rows } = await sql<{ value: string }>`
      SELECT value FROM deputy_settings WHERE name = ${name}`.execute(this.ctx.db);
    return rows[0]?.value ?? null;
  }

  async setIfAbsent(name: string, value: string): Promise<string> {
    await sql`INSERT INTO deputy_settings (name, value) VALUES (${name}, ${value})
      ON CONFLICT (name) DO NOTHING`.execute(this.ctx.db);
    return (await this.get(name)) ?? value;
  }
}
