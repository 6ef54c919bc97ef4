/**
 * A dedicated PostgreSQL connection that `LISTEN`s on one channel and reconnects with backoff.
 * Notifications are per database, so the payload carries the schema and only this schema's count.
 * Notifications sent while disconnected are lost, so `onNotify` also runs after every (re)connect:
 * the caller then reads what it missed from the table.
 *
 * @example
 * const stop = watchPostgres({ url, schema }, "deputy_revocations", () => feed.pull(), log.warn);
 * await stop();
 */
import pg from "pg";
import { assertSchemaName } from "../postgres.js";
import type { PgListenTarget } from "./context.js";

const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;

export function watchPostgres(
  target: PgListenTarget,
  channel: string,
  onNotify: () => void,
  onError: (err: unknown) => void,
): () => Promise<void> {
  if (target.schema !== undefined) assertSchemaName(target.schema);
  let stopped = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let delay = MIN_DELAY_MS;

  const schedule = () => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = null;
      void connect();
    }, delay);
    retry.unref();
    delay = Math.min(MAX_DELAY_MS, delay * 2);
  };

  const connect = async () => {
    if (stopped) return;
    // Named so operators (and tests) can tell it apart in pg_stat_activity.
    const c = new pg.Client({
      connectionString: target.url,
      application_name: `deputy-listen:${target.schema ?? ""}`.slice(0, 63),
    });
    client = c;
    let schema = "";
    const lost = () => {
      if (client !== c) return;
      client = null;
      c.end().catch(() => undefined);
      schedule();
    };
    c.on("error", (err) => {
      onError(err);
      lost();
    });
    c.on("end", lost);
    c.on("notification", (msg) => {
      if (msg.channel === channel && msg.payload === schema) onNotify();
    });
    try {
      await c.connect();
      if (target.schema !== undefined) await c.query(`SET search_path TO "${target.schema}"`);
      const r = await c.query<{ s: string }>("SELECT current_schema() AS s");
      schema = r.rows[0]?.s ?? "";
      // The channel is a fixed lower-case identifier, so it needs no quoting.
      await c.query(`LISTEN ${channel}`);
      if (stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      delay = MIN_DELAY_MS;
      onNotify();
    } catch (err) {
      if (!stopped) onError(err);
      lost();
    }
  };

  void connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = null;
    if (c) await c.end().catch(() => undefined);
  };
}
