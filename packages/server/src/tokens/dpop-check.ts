/**
 * DPoP at Deputy's own endpoints (RFC 9449): verifies the proof for this exact request, returns
 * the key thumbprint for `cnf.jkt`, and the replay key that the caller consumes once in its
 * transaction (RFC 9449 §11.1). Server nonces (§8) are stateless: an HMAC of the current minute
 * under a key derived from the master key, so every replica accepts every other's nonce.
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
    const [current, previous] = dpopNonces(d, now);
    try {
      proof = verifyDpopProof(header, { ...base, nonce: current });
    } catch (e) {
      if (!(e instanceof DeputyError) || e.code !== "ERR_USE_DPOP_NONCE") throw e;
      try {
        proof = verifyDpopProof(header, { ...base, nonce: previous });
      } catch (e2) {
        if (e2 instanceof DeputyError && e2.code === "ERR_USE_DPOP_NONCE") {
          throw new DeputyError(
            "ERR_USE_DPOP_NONCE",
            "send the DPoP proof again with the nonce in the DPoP-Nonce header",
            {
              extra: { dpop_nonce: current },
            },
          );
        }
        throw e2;
      }
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

/** The nonce for the current and the previous window (RFC 9449 §8: opaque to clients). */
export function dpopNonces(d: Deputy, nowS: number): [string, string] {
  const w = Math.floor(nowS / NONCE_WINDOW_S);
  return [nonceFor(d, w), nonceFor(d, w - 1)];
}

function nonceFor(d: Deputy, window: number): string {
  return createHmac("sha256", d.dpopNonceKey).update(`dpop-nonce:${window}`).digest("base64url").slice(0, 32);
}
