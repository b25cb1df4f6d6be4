// `sluice/server`: the admin API (token auth, scopes, OpenAPI), health and readiness, metrics and
// the live dashboard, as a Fastify app. Its own entry point, so that only users of it load fastify.
export { buildServer, sluiceApi, type ServerOptions } from './server/server.js';
// API tokens, as `sluice token create` and `revoke` make them: the secret is shown once, the store keeps its hash.
export { createToken } from './server/tokens.js';
export type { TokenRecord, TokenScope } from './core/run.js';
