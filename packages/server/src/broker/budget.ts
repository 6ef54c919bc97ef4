/**
 * Call budgets (`constraints.max_calls`). A call is charged to the token's grant and to every
 * grant it was delegated from: authority is an intersection (DESIGN §1), so a sub-agent's grant,
 * which carries no constraints of its own, never escapes its parent's budget. A grant's
 * constraints and parent never change, so each grant is read once per process.
 *
 * @example
 * const budgets = await callBudgets(deputy, "grt_…"); // [{ grantId: "grt_…", maxCalls: 100 }]
 * await deputy.store.transaction((tx) => chargeCallBudgets(tx, "grt_…", budgets));
 */
import { DeputyError, MAX_DELEGATION_DEPTH } from "@deputy/protocol";
import type { Deputy } from "../context.js";
import type { Store } from "../store/index.js";

export interface CallBudget {
  grantId: string;
  maxCalls: number;
}

/** What a grant contributes: its own `max_calls` and the grant it was delegated from. */
export interface GrantBudget {
  maxCalls: number | null;
  parentGrantId: string | null;
}

/**
 * The budgets a call with a token of `grantId` is charged to, nearest grant first. Fails closed:
 * a grant of the chain that cannot be found refuses the call (the token is as good as revoked).
 */
export async function callBudgets(d: Deputy, grantId: string): Promise<CallBudget[]> {
  const out: CallBudget[] = [];
  let id: string | null = grantId;
  for (let hops = 0; id !== null; hops++) {
    // A chain is acyclic and at most MAX_DELEGATION_DEPTH hops long; anything else is corrupt.
    if (hops > MAX_DELEGATION_DEPTH) throw new Error(`grant ${grantId} has a delegation chain too long`);
    let g = d.broker.grants.get(id);
    if (g === undefined) {
      const grant = await d.store.grants.get(id);
      if (!grant) {
        throw new DeputyError(
          "ERR_INVALID_TOKEN",
          id === grantId
            ? `the access token's grant ${id} no longer exists, so the token is revoked; ask the principal for a new grant`
            : `grant ${id}, from which the access token's grant ${grantId} was delegated, no longer exists, so the token is revoked; ask the principal for a new grant`,
        );
      }
      g = { maxCalls: grant.constraints.max_calls ?? null, parentGrantId: grant.parentGrantId };
      d.broker.rememberGrant(id, g);
    }
    if (g.maxCalls !== null) out.push({ grantId: id, maxCalls: g.maxCalls });
    id = g.parentGrantId;
  }
  return out;
}

/**
 * Counts one call against each budget, in the caller's transaction: if one is spent it throws
 * ERR_CALL_BUDGET_EXHAUSTED and the transaction's rollback undoes the others. Nearest grant first
 * in every transaction, so on PostgreSQL concurrent calls lock grants in one order (no deadlock).
 */
export async function chargeCallBudgets(
  tx: Store,
  grantId: string,
  budgets: readonly CallBudget[],
): Promise<void> {
  for (const b of budgets) {
    if (await tx.broker.consumeCallBudget(b.grantId, b.maxCalls)) continue;
    throw budgetSpent(grantId, b);
  }
}

/**
 * Throws ERR_CALL_BUDGET_EXHAUSTED, charging nothing, when one of `budgets` is already spent: a
 * call that needs an approval is not put on hold (and in front of a human) when it could not run
 * once approved. The charge itself still happens, atomically, in {@link chargeCallBudgets}.
 *
 * @example
 * await assertBudgetsLeft(deputy.store, "grt_…", budgets);
 */
export async function assertBudgetsLeft(
  store: Store,
  grantId: string,
  budgets: readonly CallBudget[],
): Promise<void> {
  for (const b of budgets) {
    if (((await store.broker.callsMade(b.grantId)) ?? 0) >= b.maxCalls) throw budgetSpent(grantId, b);
  }
}

function budgetSpent(grantId: string, b: CallBudget): DeputyError {
  const from = b.grantId === grantId ? "" : `, from which this token's grant ${grantId} was delegated,`;
  return new DeputyError(
    "ERR_CALL_BUDGET_EXHAUSTED",
    `the call budget of grant ${b.grantId} (max_calls ${b.maxCalls})${from} is spent; ask the principal for a new grant`,
  );
}
