/**
 * Frees the buffers of streamed bodies early. Each read from a socket hands the gateway a fresh
 * buffer (64 KiB while a large body flows) outside the JavaScript heap, garbage as soon as it has
 * been written on. V8 frees such buffers at a young-generation GC, and starts one for them only
 * once 32 MiB have piled up: twice its built-in semi-space size, whatever
 * `--max-semi-space-size` says (`Heap::AllocateExternalBackingStore`). Streaming 1 GiB therefore
 * held 30–40 MiB of dead chunks at a time (`process.memoryUsage().arrayBuffers`), 50–60 MB of
 * RSS. A minor GC after every {@link RECLAIM_EVERY_BYTES} streamed, counted over every call in
 * the process, keeps that to a few MiB; it costs a scavenge (well under 1 ms, with little alive)
 * per 4 MiB, and ordinary calls, whose bodies are small, almost never reach it.
 *
 * It needs `--expose-gc` (in `SERVER_NODE_FLAGS`, so `deputy serve` and cluster workers have
 * it); a process started without it streams exactly as before, with V8's own timing.
 *
 * @example
 * ures.on("data", (chunk: Buffer) => {
 *   reclaimStreamed(chunk.length);
 *   res.write(chunk);
 * });
 */

/** Bytes streamed between two forced minor GCs (2 MiB: +16 MB peak RSS, 8 MiB: +29 MB). */
export const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;

/** Counts streamed bytes and runs `collect` each time `every` more have gone through. */
export class StreamReclaimer {
  #pending = 0;

  constructor(
    private readonly collect: (() => void) | null,
    private readonly every = RECLAIM_EVERY_BYTES,
  ) {}

  /** Notes `bytes` streamed through (either direction); may run a minor GC. */
  note(bytes: number): void {
    if (this.collect === null) return;
    this.#pending += bytes;
    if (this.#pending < this.every) return;
    this.#pending = 0;
    this.collect();
  }
}

const gc = globalThis.gc;
const reclaimer = new StreamReclaimer(typeof gc === "function" ? () => gc({ type: "minor" }) : null);

/** The process-wide {@link StreamReclaimer}: call with each streamed chunk's length. */
export function reclaimStreamed(bytes: number): void {
  reclaimer.note(bytes);
}
