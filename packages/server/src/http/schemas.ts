/**
 * Input schemas for every JSON body (zod, strict: unknown fields are refused). Parsing errors
 * become `400 ERR_INVALID_REQUEST` naming the first offending field.
 *
 * @example
 * const input = parse(CreateAgentBody, request.body);
 */
import { DeputyError, isScopeToken } from "@deputy/protocol";
import { z } from "zod";

const name = z.string().trim().min(1).max(200);
const id = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}_[a-z2-7]{26}$`), `must be a ${prefix}_ id`);
const scope = z.string().refine(isScopeToken, "must be an RFC 6749 §3.3 scope token");
const audience = z.string().min(1).max(2048);
/** RFC 3339 date-time or epoch seconds. */
const instant = z.union([
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
  z
    .number()
    .int()
    .positive()
    .max(1e11)
    .transform((s) => s * 1000),
]);

export const CreatePrincipalBody = z.strictObject({
  type: z.enum(["human", "service"]),
  name,
  email: z.email().max(320).optional(),
});

export const CreateAgentBody = z.strictObject({
  principal: id("prn"),
  name,
  jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(10) }),
  parent: id("agt").optional(),
  description: z.string().max(2000).optional(),
  provenance: z.record(z.string(), z.unknown()).optional(),
});

export const AddKeyBody = z.strictObject({ jwk: z.record(z.string(), z.unknown()) });

export const EmptyBody = z.strictObject({}).optional();

export const RevokeBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();

export const CreateGrantBody = z.strictObject({
  agent: id("agt"),
  scopes: z.array(scope).min(1).max(100),
  resources: z.array(audience).min(1).max(20),
  expires_at: instant,
  max_delegation_depth: z.number().int().min(0).max(4).optional(),
  constraints: z
    .strictObject({
      max_tokens: z.number().int().min(1).max(1e12).optional(),
      not_before: instant.optional(),
    })
    .optional(),
});

export const CreateResourceBody = z.strictObject({
  audience,
  name,
  allow_bearer: z.boolean().optional(),
});

export const RevocationBody = z.strictObject({
  target: z.string().min(1).max(64),
  reason: z.string().max(500).optional(),
});

export const ListQuery = z.strictObject({
  limit: z.string().optional(),
  cursor: z.string().optional(),
});

export const AgentListQuery = ListQuery.extend({
  principal: z.string().optional(),
  status: z.enum(["active", "revoked"]).optional(),
  parent: z.string().optional(),
});

export const GrantListQuery = ListQuery.extend({
  agent: z.string().optional(),
  status: z.enum(["active", "revoked"]).optional(),
});

/** `GET /v1/revocations/events`: the id is checked by the route (it also comes as a header). */
export const RevocationEventsQuery = z.strictObject({
  last_event_id: z.string().optional(),
});

export function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.length > 0 ? issue.path.join(".") : "body";
  const message =
    issue.code === "unrecognized_keys"
      ? `unknown field(s): ${issue.keys.join(", ")}`
      : `${path}: ${issue.message}`;
  throw new DeputyError("ERR_INVALID_REQUEST", message, {
    extra: {
      errors: result.error.issues.slice(0, 10).map((i) => ({ path: i.path.join("."), message: i.message })),
    },
  });
}
