import { auditEntryKeysMigration } from "../shared/audit-entry-keys.js";

/**
 * Nothing on PostgreSQL: its principal, action, resource and decision indexes stay, updated by
 * each append (migrations/shared/audit-entry-keys.ts says why).
 *
 * @example
 * await migrate(db, "postgres"); // applies 001…011, then this
 */
export const migration = auditEntryKeysMigration("postgres");
