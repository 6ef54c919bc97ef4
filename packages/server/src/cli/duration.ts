/**
 * Durations on the command line: `90s`, `30m`, `24h`, `7d` (or plain seconds).
 *
 * @example
 * parseDuration("24h"); // 86400
 */
import { UsageError } from "./errors.js";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds in a duration like `24h`; a {@link UsageError} for anything else. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * (UNIT_SECONDS[m[2] || "s"] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new UsageError(`invalid duration "${text}": use a number with s, m, h or d, like 24h`);
  }
  return seconds;
}
