/**
 * C2SP signed notes, pinned by golang.org/x/mod/sumdb/note's own tests (note_test.go): the
 * PeterNeumann and EnochRoot keys, the signed two-line text, and TestOpen's refusals.
 */
import { describe, expect, it } from "vitest";
import { utf8 } from "./encoding.js";
import {
  ed25519KeyHash,
  formatVerifierKey,
  isValidKeyName,
  MAX_NOTE_BYTES,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from "./note.js";
import { codeOf } from "./test-support/helpers.js";

const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG =
  "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

describe("verifier keys", () => {
  it("parses the PeterNeumann key and recomputes its key ID", async () => {
    const key = await parseVerifierKey(PETER_VKEY);
    expect(key.name).toBe("PeterNeumann");
    expect(key.keyHash).toBe(0xc74f20a3);
    expect(key.publicKey).toHaveLength(32);
    expect(await ed25519KeyHash("PeterNeumann", key.publicKey)).toBe(0xc74f20a3);
    expect(await formatVerifierKey("PeterNeumann", key.publicKey)).toBe(PETER_VKEY);
  });

  // TestNewVerifier: every proper substring and every single-byte increment is refused.
  it("refuses every mangling of the key string", async () => {
    const bytes = [...PETER_VKEY];
    const bad: string[] = [];
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i + 1; j <= bytes.length; j++)
        if (i !== 0 || j !== bytes.length) bad.push(PETER_VKEY.slice(i, j));
    }
    for (let i = 0; i < bytes.length; i++) {
      bad.push(bytes.map((c, k) => (k === i ? String.fromCharCode(c.charCodeAt(0) + 1) : c)).join(""));
    }
    bad.push("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==");
    bad.push("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    for (const k of bad) {
      // An incremented hex digit (c→d, 3→4) must fail the key ID check, never pass by accident.
      expect(await codeOf(() => parseVerifierKey(k)), k).toBe("ERR_AUDIT_BAD_KEY");
    }
  });

  it("refuses names with spaces, plus signs or control characters", () => {
    for (const name of ["", "a b", "a+b", "a\u00a0b", "a\u2028b", "a\u0085b", "a\tb", "a\u0001b", "\ud800"]) {
      expect(isValidKeyName(name), JSON.stringify(name)).toBe(false);
    }
    for (const name of ["PeterNeumann", "deputy.example/audit", "例え.jp/log", "a-b_c~d"])
      expect(isValidKeyName(name)).toBe(true);
  });
});

describe("signNote (TestSign)", () => {
  it("reproduces Go's signed note byte for byte", async () => {
    const signer = await parseSignerKey(PETER_SKEY);
    expect(signer.name).toBe("PeterNeumann");
    expect(signer.privateKey.extractable).toBe(false);
    expect(await signNote(TEXT, signer)).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it("refuses text without a final newline, with control characters, and mismatched keys", async () => {
    const signer = await parseSignerKey(PETER_SKEY);
    expect(await codeOf(() => signNote("abc", signer))).toBe("ERR_AUDIT_MALFORMED_NOTE");
    expect(await codeOf(() => signNote("a\rb\n", signer))).toBe("ERR_AUDIT_MALFORMED_NOTE");
    const enoch = await parseVerifierKey(ENOCH_VKEY);
    expect(await codeOf(() => signNote(TEXT, { ...signer, publicKeyRaw: enoch.publicKey }))).toBe(
      "ERR_AUDIT_BAD_KEY",
    );
    expect(await codeOf(() => signNote(TEXT, { ...signer, name: "Bad Name" }))).toBe("ERR_AUDIT_BAD_KEY");
  });

  it("refuses signer keys whose key ID does not match", async () => {
    expect(await codeOf(() => parseSignerKey(PETER_SKEY.replace("c74f20a3", "c74f20a4")))).toBe(
      "ERR_AUDIT_BAD_KEY",
    );
    expect(await codeOf(() => parseSignerKey(PETER_SKEY.replace("PRIVATE+KEY+", "")))).toBe(
      "ERR_AUDIT_BAD_KEY",
    );
    expect(await codeOf(() => parseSignerKey(PETER_SKEY.replace("PeterNeumann", "PeterNeuman")))).toBe(
      "ERR_AUDIT_BAD_KEY",
    );
  });
});

describe("openNote (TestOpen)", () => {
  const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;

  it("verifies known keys' signatures and ignores unknown keys'", async () => {
    const peter = await parseVerifierKey(PETER_VKEY);
    expect(await openNote(both, [peter])).toEqual({
      text: TEXT,
      signatures: [
        { name: "PeterNeumann", keyHash: 0xc74f20a3, verified: true },
        { name: "EnochRoot", keyHash: 0xaf0cfe78, verified: false },
      ],
    });
    const opened = await openNote(utf8(both), [PETER_VKEY, ENOCH_VKEY]);
    expect(opened.signatures.map((s) => s.verified)).toEqual([true, true]);
  });

  it("refuses a note no known key signed", async () => {
    expect(await codeOf(() => openNote(both, []))).toBe("ERR_AUDIT_UNKNOWN_KEY");
    expect(await codeOf(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [PETER_VKEY]))).toBe("ERR_AUDIT_UNKNOWN_KEY");
  });

  it("refuses ambiguous key lists only when the ambiguous key signed", async () => {
    expect(await codeOf(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [ENOCH_VKEY, PETER_VKEY, ENOCH_VKEY]))).toBe(
      "ERR_AUDIT_BAD_KEY",
    );
    await openNote(`${TEXT}\n${PETER_SIG}`, [ENOCH_VKEY, PETER_VKEY, ENOCH_VKEY]);
  });

  it("limits notes to 100 signatures and 1 MiB", async () => {
    expect(await codeOf(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [PETER_VKEY]))).toBe(
      "ERR_AUDIT_MALFORMED_NOTE",
    );
    expect(await codeOf(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, []))).toBe(
      "ERR_AUDIT_MALFORMED_NOTE",
    );
    await openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [PETER_VKEY]);
    const big = `${"x".repeat(MAX_NOTE_BYTES)}\n\n${PETER_SIG}`;
    expect(await codeOf(() => openNote(big, [PETER_VKEY]))).toBe("ERR_AUDIT_MALFORMED_NOTE");
  });

  it("rejects the whole note when a known key's signature is invalid", async () => {
    const broken = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expect(await codeOf(() => openNote(`${TEXT}\n${broken}`, [PETER_VKEY]))).toBe("ERR_AUDIT_BAD_SIGNATURE");
    // A valid signature over other text.
    expect(await codeOf(() => openNote(`${TEXT}x\n\n${PETER_SIG}`, [PETER_VKEY]))).toBe(
      "ERR_AUDIT_BAD_SIGNATURE",
    );
  });

  it("drops duplicate signatures without re-checking them", async () => {
    const enochBroken = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`;
    const opened = await openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochBroken}`, [
      PETER_VKEY,
    ]);
    expect(opened.signatures).toEqual([
      { name: "PeterNeumann", keyHash: 0xc74f20a3, verified: true },
      { name: "EnochRoot", keyHash: 0xaf0cfe78, verified: false },
      { name: "EnochRoot", keyHash: 0xaf0cfe78, verified: false },
    ]);
  });

  it("refuses malformed encodings (badMsgs)", async () => {
    const bad: (string | Uint8Array)[] = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\u0001${TEXT}\n${PETER_SIG}`,
      new Uint8Array([0xff, ...utf8(`${TEXT}\n${PETER_SIG}`)]),
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      // And a few more: hyphen for em dash, no space, short signature, non-canonical base64.
      `${TEXT}\n${PETER_SIG.replace("—", "-")}`,
      `${TEXT}\n${PETER_SIG.replace("— ", "—")}`,
      `${TEXT}\n— PeterNeumann AAAA\n`,
      `${TEXT}\n— PeterNeumann ${"x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN="}\n`,
    ];
    for (const msg of bad) {
      expect(await codeOf(() => openNote(msg, [PETER_VKEY])), String(msg)).toBe("ERR_AUDIT_MALFORMED_NOTE");
    }
  });

  it("treats a renamed or re-IDed signature as an unknown key's", async () => {
    const renamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
    expect(await codeOf(() => openNote(`${TEXT}\n${renamed}`, [PETER_VKEY]))).toBe("ERR_AUDIT_UNKNOWN_KEY");
    const rehashed = PETER_SIG.replace("x08g", "xxxx");
    expect(await codeOf(() => openNote(`${TEXT}\n${rehashed}`, [PETER_VKEY]))).toBe("ERR_AUDIT_UNKNOWN_KEY");
  });

  it("splits text from signatures at the last blank line", async () => {
    const text = "line one\n\nline three\n";
    const signer = await parseSignerKey(PETER_SKEY);
    const note = await signNote(text, signer);
    expect((await openNote(note, [PETER_VKEY])).text).toBe(text);
  });
});
