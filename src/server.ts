// `sluice/server`: the admin API (token auth, scopes, OpenAPI), health and readiness, metrics and
// the live dashboard, as a Fastify app. Its own entry point, so that only users of it load fastify.
export { buildServer, type ServerOptions } from './server/server.js';
