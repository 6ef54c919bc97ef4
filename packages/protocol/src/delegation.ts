/**
 * Attenuation: the authority of a delegated grant or token is the intersection of its parent's
 * authority and the request. Nothing widens: not scopes, not resources, not lifetime, not depth.
 * This is the one place that decides it; the server, the SDK and the vectors all call it.
 *
 * @example
 * const child = attenuate(
 *   { scopes: ["read", "write"], resources: ["https://api"], expiresAt: 2e12, depthRemaining: 1 },
 *   { scopes: ["read"] },
 * );
 * // child = { scopes: ["read"], resources: ["https://api"], expiresAt: 2e12, depthRemaining: 0 }
 */
import { DeputyError } from "./errors.js";
import { missing } from "./scopes.js";

export const MAX_DELEGATION_DEPTH = 4;

export interface Authority {
  scopes: readonly string[];
  resources: readonly string[];
  /** Epoch milliseconds. */
  expiresAt: number;
  /** Further delegation hops allowed below this authority (0 = cannot delegate). */
  depthRemaining: number;
}

export interface AttenuationRequest {
  scopes?: readonly string[] | undefined;
  resources?: readonly string[] | undefined;
  expiresAt?: number | undefined;
  /** Hops the child may delegate further; defaults to (parent's remaining − 1). */
  depthRemaining?: number | undefined;
}

/**
 * Derives a child authority one delegation hop below `parent`. Throws a {@link DeputyError} with
 * `ERR_DELEGATION_DEPTH_EXCEEDED`, `ERR_DELEGATION_WIDENS_SCOPE`, `ERR_DELEGATION_WIDENS_RESOURCE`
 * or `ERR_DELEGATION_OUTLIVES_PARENT` when the request asks for anything the parent lacks.
 */
export function attenuate(parent: Authority, request: AttenuationRequest): Authority {
  checkAuthority(parent, "parent");
  checkRequest(request);
  if (parent.depthRemaining < 1) {
    throw new DeputyError("ERR_DELEGATION_DEPTH_EXCEEDED", "the parent grant allows no further delegation");
  }
  const scopes = request.scopes ?? parent.scopes;
  const extraScopes = missing(scopes, parent.scopes);
  if (extraScopes.length > 0) {
    throw new DeputyError(
      "ERR_DELEGATION_WIDENS_SCOPE",
      `scope not held by the parent: ${extraScopes.join(" ")}`,
    );
  }
  const resources = request.resources ?? parent.resources;
  const extraResources = missing(resources, parent.resources);
  if (extraResources.length > 0) {
    throw new DeputyError(
      "ERR_DELEGATION_WIDENS_RESOURCE",
      `resource not held by the parent: ${extraResources.join(" ")}`,
    );
  }
  const expiresAt = request.expiresAt ?? parent.expiresAt;
  if (expiresAt > parent.expiresAt) {
    throw new DeputyError("ERR_DELEGATION_OUTLIVES_PARENT", "expiry is later than the parent's");
  }
  const ceiling = parent.depthRemaining - 1;
  const depthRemaining = request.depthRemaining ?? ceiling;
  if (depthRemaining > ceiling || depthRemaining < 0) {
    throw new DeputyError(
      "ERR_DELEGATION_DEPTH_EXCEEDED",
      `max_delegation_depth may be at most ${ceiling} below this parent`,
    );
  }
  return { scopes: [...new Set(scopes)], resources: [...new Set(resources)], expiresAt, depthRemaining };
}

/** Refuses malformed numbers (NaN, fractions, negatives) that would slip past `<` comparisons. */
function checkAuthority(a: Authority, what: string): void {
  if (
    !Number.isSafeInteger(a.depthRemaining) ||
    a.depthRemaining < 0 ||
    a.depthRemaining > MAX_DELEGATION_DEPTH
  ) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      `${what} depth must be an integer 0..${MAX_DELEGATION_DEPTH}`,
    );
  }
  if (!Number.isFinite(a.expiresAt))
    throw new DeputyError("ERR_INVALID_REQUEST", `${what} expiry must be a finite time`);
  if (a.scopes.length === 0 || a.resources.length === 0) {
    throw new DeputyError("ERR_INVALID_REQUEST", `${what} must name at least one scope and one resource`);
  }
}

function checkRequest(r: AttenuationRequest): void {
  if (r.depthRemaining !== undefined && !Number.isSafeInteger(r.depthRemaining)) {
    throw new DeputyError("ERR_DELEGATION_DEPTH_EXCEEDED", "max_delegation_depth must be an integer");
  }
  if (r.expiresAt !== undefined && !Number.isFinite(r.expiresAt)) {
    throw new DeputyError("ERR_INVALID_REQUEST", "expiry must be a finite time");
  }
  if (
    (r.scopes !== undefined && r.scopes.length === 0) ||
    (r.resources !== undefined && r.resources.length === 0)
  ) {
    throw new DeputyError(
      "ERR_INVALID_REQUEST",
      "a delegation must keep at least one scope and one resource",
    );
  }
}

/** True when `child` is within `parent` on every axis (used by tests and auditors). */
export function isWithin(child: Authority, parent: Authority): boolean {
  return (
    missing(child.scopes, parent.scopes).length === 0 &&
    missing(child.resources, parent.resources).length === 0 &&
    child.expiresAt <= parent.expiresAt &&
    child.depthRemaining <= parent.depthRemaining
  );
}
