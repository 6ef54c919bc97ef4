import { auditEntryIdsMigration } from "../shared/audit-entry-ids.js";

/**
 * The audit log's agent and token indexes, written by the integrator (migrations/shared/audit-entry-ids.ts).
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…008, then this
 */
export const migration = auditEntryIdsMigration("sqlite");
