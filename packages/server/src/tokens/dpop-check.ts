/**
 * DPoP at Deputy's own endpoints (RFC 9449): verifies the proof for this exact request, returns
 * the key thumbprint for `cnf.jkt`, and the replay key that the caller consumes once in its
 * transaction (RFC 9449 §11.1). Server nonces (§8) are stateless: an HMAC of the current minute
 * under a key derived from the master key, so every replica accepts every other's nonce. Nonces
 * are made with the active master key and accepted under any key in the ring, so a master-key
 * rotation (replicas restarting one by one) does not make clients retry.
 *
 * @example
 * const dpop = checkDpop(deputy, request.headers.dpop, { htm: "POST", htu: deputy.urls.tokenEndpoint });
 */
import { createHmac } from "node:crypto";
import { DeputyError } from "@deputy/protocol";
import { nowSeconds } from "../clock.js";
import type { Deputy } from "../context.js";
import { verifyDpopProof } from "./dpop.js";

export interface DpopCheck {
  jkt: string;
  replayKey: string;
  replayUntil: number;
}

const NONCE_WINDOW_S = 60;

export function checkDpop(
  d: Deputy,
  header: string | string[] | undefined,
  opts: { htm: string; htu: string; accessToken?: string; expectedJkt?: string },
): DpopCheck | null {
  if (header === undefined) return null;
  if (Array.isArray(header) || header.length === 0) {
    throw new DeputyError("ERR_INVALID_DPOP_PROOF", "exactly one DPoP header is allowed (RFC 9449 §4.3)");
  }
  const now = nowSeconds(d.clock);
  const base = {
    htm: opts.htm,
    htu: opts.htu,
    now,
    maxAgeSec: d.config.dpopMaxAge,
    ...(opts.accessToken !== undefined ? { accessToken: opts.accessToken } : {}),
    ...(opts.expectedJkt !== undefined ? { expectedJkt: opts.expectedJkt } : {}),
  };
  let proof: ReturnType<typeof verifyDpopProof>;
  if (d.config.dpopNonce) {
    const accepted = dpopNonces(d, now);
    try {
      proof = verifyDpopProof(header, { ...base, nonce: accepted });
    } catch (e) {
      if (e instanceof DeputyError && e.code === "ERR_USE_DPOP_NONCE") {
        throw new DeputyError(
          "ERR_USE_DPOP_NONCE",
          "send the DPoP proof again with the nonce in the DPoP-Nonce header",
          {
            extra: { dpop_nonce: accepted[0] },
          },
        );
      }
      throw e;
    }
  } else {
    proof = verifyDpopProof(header, base);
  }
  return {
    jkt: proof.jkt,
    replayKey: `dpop:${proof.jkt}:${proof.jti}`,
    // A proof older than maxAge is refused anyway, so the jti only needs remembering that long.
    replayUntil: (proof.iat + d.config.dpopMaxAge + 5) * 1000,
  };
}

/**
 * The accepted nonces (RFC 9449 §8: opaque to clients): for the current and the previous window,
 * under each master key. The first is the one to hand out.
 */
export function dpopNonces(d: Deputy, nowS: number): [string, ...string[]] {
  const w = Math.floor(nowS / NONCE_WINDOW_S);
  const [active, ...others] = d.dpopNonceKeys;
  const out: [string, ...string[]] = [nonceFor(active!, w), nonceFor(active!, w - 1)];
  for (const key of others) out.push(nonceFor(key, w), nonceFor(key, w - 1));
  return out;
}

function nonceFor(key: Buffer, window: number): string {
  return createHmac("sha256", key).update(`dpop-nonce:${window}`).digest("base64url").slice(0, 32);
}
