/**
 * Deputy's SDK. The root export is the agent side (as `@deputy/sdk/agent`); resource servers
 * import `@deputy/sdk/verifier` and a middleware (`@deputy/sdk/middleware/node`, `/express`,
 * `/fastify`, `/hono`) or `@deputy/sdk/mcp`; `@deputy/sdk/node` loads agent key files.
 *
 * @example
 * import { DeputyAgent, generateAgentKey } from "@deputy/sdk";
 * const { privateJwk, publicJwk, kid } = await generateAgentKey();
 */
export * from "./agent.js";
