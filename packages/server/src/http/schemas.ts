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
      max_calls: z.number().int().min(1).max(1e12).optional(),
    })
    .optional(),
});

export const CreateResourceBody = z.strictObject({
  audience,
  name,
  allow_bearer: z.boolean().optional(),
  require_provenance: z.boolean().optional(),
  code_digests: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
  accept_unbound_provenance: z.boolean().optional(),
});

export const UpdateResourceBody = z
  .strictObject({
    require_provenance: z.boolean().optional(),
    code_digests: z.array(z.string().min(1).max(200)).min(1).max(100).nullable().optional(),
    accept_unbound_provenance: z.boolean().optional(),
  })
  .refine(
    (b) =>
      b.require_provenance !== undefined ||
      b.code_digests !== undefined ||
      b.accept_unbound_provenance !== undefined,
    { message: "set require_provenance, code_digests and/or accept_unbound_provenance" },
  );

const jwks = z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(10) });
/** Self-asserted fields, plus `software_statement` (a JWT from a registered provenance issuer). */
const provenance = z.record(z.string(), z.unknown());

export const CreateEnrollmentBody = z.strictObject({
  principal: id("prn"),
  scopes: z.array(scope).min(1).max(100),
  resources: z.array(audience).min(1).max(20),
  max_agents: z.number().int().min(1).max(1_000_000),
  /** Seconds the code stays usable: 1 minute to 30 days. */
  expires_in: z.number().int().min(60).max(2_592_000),
  require_provenance: z.boolean().optional(),
});

export const RevokeEnrollmentBody = z
  .strictObject({ cascade: z.boolean().optional(), reason: z.string().max(500).optional() })
  .optional();

export const EnrollAgentBody = z.strictObject({
  enrollment_code: z.string().min(1).max(200),
  name,
  jwks,
  provenance: provenance.optional(),
});

export const TemporaryAgentBody = z.strictObject({
  name,
  jwks,
  challenge: z.string().min(1).max(200),
  nonce: z.string().min(1).max(128),
  provenance: provenance.optional(),
});

export const CreateProvenanceIssuerBody = z.strictObject({
  name,
  issuer: z.string().min(1).max(2048),
  jwks,
  /** Refuse its statements unless bound to the agent's key (`cnf.jkt`); true unless set false. */
  require_key_binding: z.boolean().optional(),
});

export const UpdateProvenanceIssuerBody = z
  .strictObject({ require_key_binding: z.boolean().optional(), jwks: jwks.optional() })
  .refine((b) => b.require_key_binding !== undefined || b.jwks !== undefined, {
    message: "send require_key_binding, jwks or both",
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

export const NoQuery = z.strictObject({});

export const EnrollmentListQuery = ListQuery.extend({
  principal: z.string().optional(),
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

const HTTP_METHOD = z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"]);
/** A path glob: starts with "/", printable ASCII, no "?" or "#" (rules match paths, not queries). */
const pathGlob = z
  .string()
  .min(1)
  .max(500)
  .regex(/^\/[\x21-\x7e]*$/, 'must start with "/" and be printable ASCII without spaces')
  .refine((g) => !/[?#\\]/.test(g), "must not contain ?, # or \\");
const secret = z.string().min(1).max(16384);

export const ConnectionRuleBody = z.strictObject({
  scope,
  methods: z.array(HTTP_METHOD).min(1).max(8),
  paths: z.array(pathGlob).min(1).max(50),
  approval: z.literal("required").optional(),
});

export const CreateConnectionBody = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be 1-63 of a-z, 0-9 and -, starting with a letter or digit"),
  upstream: z.string().min(1).max(2048),
  auth: z.strictObject({
    type: z.enum(["bearer", "header", "basic", "query"]),
    name: z.string().min(1).max(100).optional(),
    secret,
  }),
  rules: z.array(ConnectionRuleBody).min(1).max(100),
  audience: audience.optional(),
});

export const RotateSecretBody = z.strictObject({ secret });

export const ApprovalListQuery = ListQuery.extend({
  status: z.enum(["pending", "approved", "denied", "used"]).optional(),
});

export const ApprovalGetQuery = z.strictObject({
  wait: z
    .string()
    .regex(/^\d{1,2}$/, "must be whole seconds, 0..60")
    .transform(Number)
    .refine((n) => n <= 60, "must be at most 60")
    .optional(),
});

export const DecisionBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();
