/**
 * OAuth parameter values the agent client sends (re-exported from `@deputy/protocol` so the SDK
 * and the server can never disagree).
 *
 * @example
 * form.set("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER);
 */
export {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  GRANT_TYPE_CLIENT_CREDENTIALS,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "@deputy/protocol";
