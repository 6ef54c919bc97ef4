import { auditEntryKeysMigration } from "../shared/audit-entry-keys.js";

/**
 * The audit log's principal, action, resource and decision indexes, written by the integrator
 * (migrations/shared/audit-entry-keys.ts).
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…011, then this
 */
export const migration = auditEntryKeysMigration("sqlite");
