/**
 * Who is calling the management API, and what they may see. Visibility rules (DESIGN §4):
 * the admin sees everything; a principal token sees only that principal's objects; an agent
 * (with a DPoP-bound token for Deputy's own audience) sees itself and its sub-agents. Anything
 * invisible answers 404, so existence never leaks across principals.
 *
 * @example
 * if (!canSeeAgent(caller, agent)) throw notFound("agent");
 */
import { DeputyError, SCOPE_AGENTS_DELEGATE } from "@deputy/protocol";
import type { AuditActor } from "../audit/record.js";
import type { AgentRecord } from "../store/index.js";

export type Caller =
  | { kind: "admin" }
  | { kind: "principal"; principalId: string }
  | {
      kind: "agent";
      agentId: string;
      principalId: string;
      /** Parent agents, nearest first. */
      chain: string[];
      scopes: string[];
      tokenId: string;
      grantId: string;
    };

export function actorOf(caller: Caller): AuditActor {
  switch (caller.kind) {
    case "admin":
      return { agent: null, chain: [], principal: null, kind: "admin" };
    case "principal":
      return { agent: null, chain: [], principal: caller.principalId, kind: "principal" };
    case "agent":
      return { agent: caller.agentId, chain: caller.chain, principal: caller.principalId, kind: "agent" };
  }
}

export function canSeePrincipal(caller: Caller, principalId: string): boolean {
  return caller.kind === "admin" || caller.principalId === principalId;
}

/** An agent caller sees itself and its descendants (whose chain contains it). */
export function canSeeAgent(caller: Caller, agent: AgentRecord): boolean {
  if (caller.kind === "admin") return true;
  if (caller.kind === "principal") return agent.principalId === caller.principalId;
  return agent.id === caller.agentId || agent.chain.includes(caller.agentId);
}

export function notFound(what: string, id?: string): DeputyError {
  return new DeputyError("ERR_NOT_FOUND", id ? `${what} ${id} not found` : `${what} not found`);
}

/**
 * What an agent may change through `/v1` is limited to its sub-agents and needs
 * `agents:delegate` in its token: it can never add keys to itself, or widen anything of its own,
 * so a stolen short-lived token cannot be turned into a lasting identity. (Reading and revoking
 * need no scope: they never add authority.)
 */
export function requireDelegatingAgent(caller: Caller, target: AgentRecord, what: string): void {
  if (caller.kind !== "agent") return;
  if (target.id === caller.agentId) {
    throw new DeputyError(
      "ERR_FORBIDDEN",
      `an agent cannot ${what} for itself; its principal or the admin can`,
    );
  }
  if (!caller.scopes.includes(SCOPE_AGENTS_DELEGATE)) {
    throw new DeputyError(
      "ERR_INSUFFICIENT_SCOPE",
      `${what} for a sub-agent needs scope ${SCOPE_AGENTS_DELEGATE}`,
    );
  }
}

export function requireAdmin(caller: Caller, what: string): void {
  if (caller.kind !== "admin") throw new DeputyError("ERR_FORBIDDEN", `${what} requires the admin token`);
}
