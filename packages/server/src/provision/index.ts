/**
 * Provisioning: enrollment codes, temporary agents (proof of work + claim), provenance.
 *
 * @example
 * import { enrollAgent, createTemporaryAgent, claimAgent } from "../provision/index.js";
 */
export * from "./ceiling.js";
export * from "./claims.js";
export * from "./enrollments.js";
export * from "./pow.js";
export * from "./provenance.js";
export * from "./rate-limit.js";
export * from "./register.js";
export * from "./sandbox.js";
export * from "./sweeper.js";
export * from "./temporary.js";
