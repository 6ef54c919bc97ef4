/**
 * The V8 flags the `deputy` server process runs with, set on the shebang line of `bin/deputy.js`
 * (`#!/usr/bin/env -S node …`; a test keeps the two equal) and used by the benchmarks' server
 * processes.
 *
 * `--max-semi-space-size=4` caps each of the young generation's two semi-spaces at 4 MiB instead
 * of V8's 16 MiB. Deputy's requests allocate small, short-lived objects, so scavenges stay cheap
 * at that size, while the full-size young generation alone held 24 MiB of resident memory after
 * the first burst of traffic, which it never gave back (docs/benchmarks.md, "Idle RSS").
 * `--expose-gc` lets the gateway run a minor GC every few MiB of a streamed body, which frees the
 * socket chunks V8 would otherwise let pile up to 32 MiB (`broker/reclaim.ts`); nothing else
 * calls `gc`.
 * A process that embeds `startDeputy` chooses its own flags: pass these to `node`, or set
 * `NODE_OPTIONS="--max-semi-space-size=4 --expose-gc"`.
 *
 * @example
 * spawn(process.execPath, [...SERVER_NODE_FLAGS, "bin/deputy.js", "serve"]);
 */
export const SERVER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4", "--expose-gc"];
