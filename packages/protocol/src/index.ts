export * from "./audit/index.js";
export * from "./delegation.js";
export * from "./errors.js";
export * from "./ids.js";
export * from "./oauth.js";
export * from "./scopes.js";
