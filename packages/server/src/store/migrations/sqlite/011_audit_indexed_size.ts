import { auditIndexedSizeMigration } from "../shared/audit-indexed-size.js";

/**
 * How far the audit log's key index reaches (migrations/shared/audit-indexed-size.ts).
 *
 * @example
 * await migrate(db, "sqlite"); // applies 001…010, then this
 */
export const migration = auditIndexedSizeMigration("sqlite");
