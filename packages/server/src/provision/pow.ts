/**
 * Proof-of-work challenges for temporary agents. A challenge is stateless and MAC'd
 * (HMAC-SHA-256 with a key derived from the master key), so forging one or changing its expiry
 * or difficulty fails the MAC; it is made single-use by consuming it in the nonce store
 * (`consumeOnce`, exactly one caller wins) in the transaction that creates the agent.
 *
 * The solution is a `nonce` such that `SHA-256(challenge + "." + nonce)` has at least
 * `difficulty` leading zero bits.
 *
 * @example
 * const c = issueChallenge(key, now, 20, 120);        // { challenge, difficulty, expires_at }
 * const nonce = solveChallenge(c.challenge, c.difficulty);
 * checkChallenge(key, c.challenge, nonce, now);      // { expiresAt, difficulty } or throws
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { DeputyError } from "@deputy/protocol";

const VERSION = "pow1";

export interface Challenge {
  challenge: string;
  difficulty: number;
  expires_at: string;
}

function mac(key: Buffer, body: string): string {
  return createHmac("sha256", key).update(body).digest("hex");
}

/** A new challenge valid for `ttlS` seconds. */
export function issueChallenge(key: Buffer, now: number, difficulty: number, ttlS: number): Challenge {
  const expiresAt = now + ttlS * 1000;
  const body = `${VERSION}-${expiresAt}-${difficulty}-${randomBytes(16).toString("hex")}`;
  return {
    challenge: `${body}-${mac(key, body)}`,
    difficulty,
    expires_at: new Date(expiresAt).toISOString(),
  };
}

/** Number of leading zero bits of `digest`. */
export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** `SHA-256(challenge + "." + nonce)`. */
export function powDigest(challenge: string, nonce: string): Buffer {
  return createHash("sha256").update(`${challenge}.${nonce}`).digest();
}

/**
 * Checks the MAC, the expiry and the work; does not consume the challenge (the caller does, in
 * its transaction). Throws ERR_CHALLENGE_INVALID, ERR_CHALLENGE_EXPIRED or ERR_POW_INSUFFICIENT.
 */
export function checkChallenge(
  key: Buffer | readonly Buffer[],
  challenge: string,
  nonce: string,
  now: number,
): { expiresAt: number; difficulty: number } {
  const parts = challenge.split("-");
  const [version, exp, diff, rand, tag] = parts;
  if (
    parts.length !== 5 ||
    version !== VERSION ||
    !exp ||
    !diff ||
    !rand ||
    !tag ||
    !/^[0-9a-f]{64}$/.test(tag)
  ) {
    throw new DeputyError("ERR_CHALLENGE_INVALID", "challenge is not one this server issued");
  }
  // Any master key in the ring may have MAC'd it (a challenge issued before a rotation).
  const given = Buffer.from(tag, "hex");
  const macd = (Array.isArray(key) ? key : [key]).some((k: Buffer) =>
    timingSafeEqual(Buffer.from(mac(k, `${version}-${exp}-${diff}-${rand}`), "hex"), given),
  );
  if (!macd) {
    throw new DeputyError("ERR_CHALLENGE_INVALID", "challenge is not one this server issued");
  }
  const expiresAt = Number(exp);
  const difficulty = Number(diff);
  if (expiresAt <= now) {
    throw new DeputyError(
      "ERR_CHALLENGE_EXPIRED",
      "challenge has expired: GET /v1/agents/temporary/challenge",
    );
  }
  const bits = leadingZeroBits(powDigest(challenge, nonce));
  if (bits < difficulty) {
    throw new DeputyError(
      "ERR_POW_INSUFFICIENT",
      `SHA-256(challenge + "." + nonce) has ${bits} leading zero bits; ${difficulty} required`,
    );
  }
  return { expiresAt, difficulty };
}

/**
 * Finds a nonce by counting up (what a client does; the CLI reports progress through `onProgress`
 * every 2^16 attempts).
 */
export function solveChallenge(
  challenge: string,
  difficulty: number,
  onProgress?: (attempts: number) => void,
): string {
  for (let i = 0; ; i++) {
    const nonce = i.toString(36);
    if (leadingZeroBits(powDigest(challenge, nonce)) >= difficulty) return nonce;
    if (onProgress && (i & 0xffff) === 0xffff) onProgress(i + 1);
  }
}
