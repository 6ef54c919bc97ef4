/**
 * Runs the agent-api example by hand against a running `deputy serve` (see README.md):
 *
 *   DEPUTY_ISSUER=http://127.0.0.1:4747 RESOURCE_ID=res_… RESOURCE_SECRET=… \
 *   AGENT_KEY_FILE=./agt_parent.key.json SUB_AGENT_KEY_FILE=./agt_child.key.json \
 *   AUDIENCE=https://tickets.example.com npx tsx examples/agent-api/main.ts
 *
 * Revoke the agent from another terminal (`deputy agent revoke agt_…`) and watch its next call fail.
 */
import { runAgent } from "./agent.js";
import { startApi } from "./api.js";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
}

const api = await startApi({
  issuer: env("DEPUTY_ISSUER"),
  audience: env("AUDIENCE"),
  resourceId: env("RESOURCE_ID"),
  resourceSecret: env("RESOURCE_SECRET"),
});
console.log(`API on ${api.url}`);
const log = await runAgent({
  keyFile: env("AGENT_KEY_FILE"),
  subAgentKeyFile: env("SUB_AGENT_KEY_FILE"),
  apiUrl: api.url,
  audience: env("AUDIENCE"),
  intervalMs: 1_000,
});
for (const c of log) console.log(new Date(c.at).toISOString(), c.who, c.status, JSON.stringify(c.body));
await api.close();
