#!/usr/bin/env node
/**
 * Writes docs/configuration.md from the one source of settings, `SETTINGS` in
 * packages/server/src/config/defaults.ts (read from its compiled form, so build first).
 *
 * @example
 * npx tsc -b && node scripts/gen-config-docs.mjs          # rewrite docs/configuration.md
 * npx tsc -b && node scripts/gen-config-docs.mjs --check  # exit 1 if the file is out of date
 */
import { readFile, writeFile } from "node:fs/promises";

const root = new URL("../", import.meta.url);
const out = new URL("docs/configuration.md", root);
const { SETTINGS } = await import(new URL("packages/server/dist/config/defaults.js", root).href);

/** `deputy serve` flags (cli/commands/serve.ts); the other settings are environment-only. */
const FLAGS = {
  port: "--port",
  host: "--host",
  dataDir: "--data-dir",
  databaseUrl: "--database-url",
  issuer: "--issuer",
};

/** Table-safe text: pipes escaped, and `<…>` outside code spans escaped so it is not read as HTML. */
const cell = (s) =>
  String(s)
    .replace(/\n/g, " ")
    .split("`")
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, "&lt;").replace(/>/g, "&gt;")))
    .join("`")
    .replace(/\|/g, "\\|");
const value = (v) => (v === "" ? "(empty)" : `\`${v}\``);

const rows = Object.entries(SETTINGS).map(
  ([name, s]) =>
    `| \`${name}\` | \`${s.env}\` | ${FLAGS[name] ? `\`${FLAGS[name]}\`` : ""} | ${value(s.default)} | ${cell(s.doc)} |`,
);

const text = `# Configuration

<!-- Generated from packages/server/src/config/defaults.ts; do not edit by hand.
     Regenerate: npx tsc -b && node scripts/gen-config-docs.mjs -->

Generated from \`SETTINGS\` in \`packages/server/src/config/defaults.ts\` by
\`npx tsc -b && node scripts/gen-config-docs.mjs\` (\`--check\` exits 1 when this file is stale).

\`deputy serve\` needs none of these: with no configuration it listens on \`127.0.0.1:4747\` and
keeps its state in \`./.deputy/\`. Each setting is taken from, in order: the \`deputy serve\` flag
(where there is one), the environment variable (an empty value counts as unset), the default.

| setting | environment variable | flag | default | what it does |
| --- | --- | --- | --- | --- |
${rows.join("\n")}

Rules applied when the settings are read:

- Numbers must parse as finite numbers. Booleans are true for \`1\` or \`true\` (any case),
  false for anything else.
- \`issuer\` defaults to \`http://127.0.0.1:<port>\`; trailing slashes are removed. It is the \`iss\`
  of every token and the base of every URL in the metadata, so set it to the public \`https\` URL
  whenever Deputy is reached through anything but loopback.
- \`maxAccessTokenTtl\` may be at most 3600, and \`accessTokenTtl\` may not exceed it; otherwise
  the server refuses to start. Today that is all it does: every token lives \`accessTokenTtl\`
  seconds, capped by its grant's expiry (and, for a delegated token, by the parent token's).
- \`dpopNonce\` applies wherever Deputy checks a DPoP proof: the token endpoint and agents calling
  \`/v1\`. A proof without the current nonce gets \`use_dpop_nonce\` (400 at the token endpoint,
  401 on \`/v1\`) with the nonce in a \`DPoP-Nonce\` header; a nonce stays good for 1 to 2 minutes.
- \`trustProxy\` entries are IP addresses (\`10.0.0.7\`, \`2001:db8::1\`) or CIDR ranges
  (\`10.0.0.0/8\`, \`2001:db8::/32\`); anything else (a host name, a netmask, an empty entry, a
  prefix out of range, a \`/0\` range that would believe every peer) stops the server at start
  with a message naming the entry. Behind a reverse proxy, see docs/provisioning.md (The rate
  limit behind a reverse proxy).
- \`adminToken\`, when set, must be at least 32 characters. When unset, the token in
  \`<data dir>/admin.token\` is used, or a new one is generated, printed once and written there
  (mode 0600).
- Several replicas sharing one PostgreSQL database must share \`DEPUTY_MASTER_KEY\` and
  \`DEPUTY_ADMIN_TOKEN\`. \`deputy serve --workers N\` (no environment variable) runs N processes
  on one machine and arranges this itself.
- \`masterKey\` is a ring: \`DEPUTY_MASTER_KEY=<new>,<old>\` (or one key per line in
  \`<data dir>/master.key\`, first line active) seals with the first key and opens with any.
  Rotating the master key without downtime: one process — \`deputy keys rotate-master\`, restart,
  \`deputy keys rewrap\` (the server also re-seals at start unless \`masterKeyRewrapOnStart\` is
  false), then drop the old key once \`deputy keys master-status\` no longer lists it. Replicas on
  PostgreSQL — add the new key to every ring as the second key and roll the restarts, then make it
  first everywhere and roll again, run \`deputy keys rewrap\`, and only then drop the old key and roll
  once more. The full procedure is in docs/broker.md (Master-key rotation).
`;

if (process.argv.includes("--check")) {
  const current = await readFile(out, "utf8").catch(() => "");
  if (current !== text) {
    console.error("docs/configuration.md is out of date: run npx tsc -b && node scripts/gen-config-docs.mjs");
    process.exit(1);
  }
} else {
  await writeFile(out, text);
}
