/**
 * The verifier's memory, as a witness keeps it: for each log (by origin), the last checkpoint it
 * verified (size and root) and the key that signed it. `deputy audit verify` refuses a checkpoint
 * that does not extend it (fork, rollback, rewritten history) and a log key that changed, and
 * records each newly verified checkpoint. Default location: `./.deputy/audit-witness.json`.
 *
 * @example
 * const file = await loadWitnessFile(".deputy/audit-witness.json");
 * const seen = file.logs["deputy.example/deputy-audit"];        // { size, root, key, … } | undefined
 * await saveWitnessFile(path, { ...file, logs: { ...file.logs, [origin]: next } });
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export const DEFAULT_WITNESS_FILE = ".deputy/audit-witness.json";

export interface WitnessedLog {
  size: number;
  /** Base64 root hash. */
  root: string;
  /** The verifier key that signed it. */
  key: string;
  /** The checkpoint note itself, for the record. */
  checkpoint: string;
  verified_at: string;
}

export interface WitnessFile {
  version: 1;
  logs: Record<string, WitnessedLog>;
}

/** Reads the witness file; an absent file is an empty witness. A corrupt one is an error. */
export async function loadWitnessFile(path: string): Promise<WitnessFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, logs: {} };
    throw e;
  }
  const parsed = JSON.parse(text) as Partial<WitnessFile>;
  if (parsed.version !== 1 || typeof parsed.logs !== "object" || parsed.logs === null) {
    throw new Error(`${path} is not a Deputy audit witness file (version 1)`);
  }
  for (const [origin, log] of Object.entries(parsed.logs)) {
    if (!Number.isSafeInteger(log?.size) || log.size < 0 || typeof log.root !== "string") {
      throw new Error(`${path}: the entry for ${origin} is malformed`);
    }
  }
  return parsed as WitnessFile;
}

/** Writes the witness file atomically (a crash leaves the old or the new one, never half). */
export async function saveWitnessFile(path: string, file: WitnessFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`);
  await rename(tmp, path);
}
