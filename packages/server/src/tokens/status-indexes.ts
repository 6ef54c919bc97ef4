/**
 * Hands out token status-list indexes (draft-ietf-oauth-status-list) from blocks reserved in the
 * store, so minting a token does not write a counter row every time. A block is reserved outside
 * any transaction and never handed out twice; indexes left in a block when the process stops are
 * simply never used (their status bit stays 0, and no token carries them).
 *
 * @example
 * const idx = await deputy.statusIndexes.next();
 */
import type { Store } from "../store/index.js";

export class StatusIndexAllocator {
  private block: number[] = [];
  private pending: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly blockSize = 256,
  ) {}

  async next(): Promise<number> {
    for (;;) {
      const idx = this.block.pop();
      if (idx !== undefined) return idx;
      // One reservation at a time; concurrent callers wait for it instead of reserving their own.
      this.pending ??= this.store.tokens
        .reserveStatusIndexes(this.blockSize)
        .then((ids) => {
          this.block = ids.reverse();
        })
        .finally(() => {
          this.pending = null;
        });
      await this.pending;
    }
  }
}
