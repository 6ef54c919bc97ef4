/**
 * The sandbox of temporary agents: a built-in service principal they act for until a human claims
 * them, and the scopes and resources the operator lets them use (`sandboxScopes`,
 * `sandboxResources` in config/defaults.ts).
 *
 * @example
 * const principalId = await ensureSandboxPrincipal(deputy);
 */
import { newId } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import type { AgentCeiling } from "../store/index.js";

const SETTING = "sandbox_principal";
const cached = new WeakMap<Deputy, string>();

/** The sandbox principal's id, created on first use (exactly one wins across replicas). */
export async function ensureSandboxPrincipal(d: Deputy): Promise<string> {
  const hit = cached.get(d);
  if (hit) return hit;
  let id = await d.store.settings.get(SETTING);
  if (id === null) {
    const candidate = newId("prn");
    id = await d.store.transaction(async (tx) => {
      const won = await tx.settings.setIfAbsent(SETTING, candidate);
      if (won === candidate) {
        await tx.principals.create({
          id: candidate,
          type: "service",
          name: "Temporary agents (sandbox)",
          email: null,
          status: "active",
          createdAt: d.clock.now(),
          disabledAt: null,
        });
      }
      return won;
    });
  }
  cached.set(d, id);
  return id;
}

/** The operator's sandbox: scopes and resource audiences from config. */
export function sandboxCeiling(d: Deputy): AgentCeiling {
  const split = (s: string) => s.split(/[\s,]+/).filter(Boolean);
  return { scopes: split(d.config.sandboxScopes), resources: split(d.config.sandboxResources) };
}
