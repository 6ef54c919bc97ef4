/**
 * Runs the demo's steps in order and narrates them: a numbered sentence per step, indented
 * details, and a clear verdict. The first step that misbehaves stops the story.
 *
 * @example
 * const n = new Narrator({ json: false });
 * await n.step("Start a fresh Deputy.", async () => [`Listening on ${url}.`]);
 */
import { print } from "../output.js";

export interface StepRecord {
  n: number;
  title: string;
  ok: boolean;
  details: string[];
  error?: string;
}

/** Thrown by {@link Narrator.step} after it has reported the failure. */
export class StepFailed extends Error {
  override readonly name = "StepFailed";
}

/** Thrown inside a step when something did not behave as the story expects. */
export class Unexpected extends Error {
  override readonly name = "Unexpected";
}

/** Fails the current step unless `condition` holds. */
export function expectThat(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Unexpected(message);
}

export class Narrator {
  readonly steps: StepRecord[] = [];
  constructor(private readonly options: { json: boolean }) {}

  /** Prints free text (not in `--json` mode). */
  say(...lines: string[]): void {
    if (!this.options.json) print(...lines);
  }

  /** Runs one step; its returned lines are printed as details. */
  async step<T>(title: string, run: () => Promise<{ details: string[]; value: T }>): Promise<T> {
    const record: StepRecord = { n: this.steps.length + 1, title, ok: false, details: [] };
    this.steps.push(record);
    this.say(`${record.n}. ${title}`);
    try {
      const { details, value } = await run();
      record.ok = true;
      record.details = details;
      this.say(...details.map((d) => `   ${d}`));
      return value;
    } catch (e) {
      record.error =
        e instanceof Error ? `${e.message}${"code" in e ? ` (${String(e.code)})` : ""}` : String(e);
      this.say(`   FAILED: ${record.error}`);
      throw new StepFailed(`step ${record.n} (${title}) failed: ${record.error}`);
    }
  }
}
