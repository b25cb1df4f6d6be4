// `sluice/server`: the admin API (token auth, scopes, OpenAPI), health and readiness, metrics and
// the live dashboard, as a Fastify app. Its own entry point, so that only users of it load fastify.
export { buildServer, sluiceApi, type ServerOptions } from './server/server.js';
// API tokens, as `sluice token create` and `revoke` make them: the secret is shown once, the store keeps its hash.
export { createToken, SCOPES as TOKEN_SCOPES } from './server/tokens.js';
// The limit on invalid tokens per address (`buildServer`'s authFailureLimit) from text such as `20/60` (failures/seconds).
export { parseAuthFailureLimit, type AuthFailureLimit } from './server/auth-failures.js';
export type { TokenRecord, TokenScope } from './core/run.js';
