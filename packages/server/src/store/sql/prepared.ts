/**
 * Named prepared statements for the hottest PostgreSQL queries. A query text registered here is
 * sent by the driver as a named statement: PostgreSQL parses and plans it once per connection,
 * then only binds and executes it. Kysely sends every query unnamed (parsed and planned each
 * time); for the audit log's batch append that planning cost about a tenth of the statement.
 *
 * Only fixed texts are registered (written out with `$n` placeholders), so each connection holds
 * a bounded set of statements. SQLite needs none of this: better-sqlite3 caches its statements.
 *
 * @example
 * const TEXT = prepared("SELECT size FROM audit_head WHERE id = $1");
 * await db.executeQuery(CompiledQuery.raw(TEXT, [1]));
 */
const names = new Map<string, string>();

/** Registers `text` as a named statement and returns it unchanged. */
export function prepared(text: string): string {
  if (!names.has(text)) names.set(text, `deputy_${names.size + 1}`);
  return text;
}

/** The statement name registered for `text`, if any. */
export function preparedName(text: string): string | undefined {
  return names.get(text);
}
