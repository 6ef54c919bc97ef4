/** The OCSF mapping keeps every base attribute OCSF requires, per class. */
import { describe, expect, it } from "vitest";
import { toOcsf } from "./ocsf.js";

const BASE = ["activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid"];

describe("toOcsf", () => {
  it("maps token decisions to Authentication (3002) with its required user and a service", () => {
    const e = toOcsf(7, {
      at: "2026-01-01T00:00:00.000Z",
      action: "token.refused",
      decision: "denied",
      actor: { agent: "agt_a", chain: ["agt_p"], principal: "prn_p", kind: "agent" },
      resource: "https://api.example",
      details: { code: "ERR_INVALID_SCOPE" },
    });
    for (const k of [...BASE, "user"]) expect(e).toHaveProperty(k);
    expect(e).toMatchObject({
      class_uid: 3002,
      category_uid: 3,
      activity_id: 1,
      type_uid: 300201,
      time: Date.UTC(2026, 0, 1),
      status_id: 2,
      status_detail: "ERR_INVALID_SCOPE",
      severity_id: 3,
      user: { uid: "agt_a" },
      service: { name: "Deputy", uid: "https://api.example" },
      metadata: { version: "1.3.0", product: { name: "Deputy" }, uid: "7", event_code: "token.refused" },
      unmapped: { deputy: { actor: { chain: ["agt_p"], principal: "prn_p" } } },
    });
  });

  it("maps everything else to API Activity (6003) with actor, api.operation and src_endpoint", () => {
    const cases: Array<[string, number]> = [
      ["agent.created", 1],
      ["token.introspected", 2],
      ["issuer_key.rotated", 3],
      ["agent.revoked", 4],
      ["principal.disabled", 4],
      ["something.happened", 99],
    ];
    for (const [action, activity] of cases) {
      const e = toOcsf(1, {
        at: "2026-01-01T00:00:00.000Z",
        action,
        decision: "allowed",
        actor: { agent: null, chain: [], principal: null, kind: "admin" },
        target: "agt_x",
      });
      for (const k of [...BASE, "actor", "api", "src_endpoint"]) expect(e).toHaveProperty(k);
      expect(e).toMatchObject({
        class_uid: 6003,
        category_uid: 6,
        activity_id: activity,
        type_uid: 600300 + activity,
      });
      expect(e).toMatchObject({ api: { operation: action }, actor: { user: { uid: "admin", type_id: 2 } } });
      expect(e).toMatchObject({ resources: [{ uid: "agt_x", type: "agent" }] });
    }
  });
});
