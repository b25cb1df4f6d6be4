import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './http-errors.js';

/**
 * The Host header checked against where the server listens, so that a DNS-rebinding page (a name
 * the attacker controls, resolved to 127.0.0.1) cannot reach a server bound to loopback. The
 * rule:
 * - an IP literal is accepted when the server listens on it, on every interface (0.0.0.0, ::), or
 *   on loopback and the literal is a loopback one: rebinding needs a name, never a literal;
 * - `localhost` is accepted when the server listens on loopback or on every interface;
 * - any other name only when it is in `allowedHosts` (a proxy's or a DNS name); `*` accepts every
 *   host (the check off).
 * Requests without a Host header (not HTTP/1.1, never a browser's) pass.
 */
export function hostAllowed(host: string | undefined, boundAddress: string, allowedHosts: readonly string[]): boolean {
  if (host === undefined || host === '') return true;
  if (allowedHosts.includes('*')) return true;
  const name = hostnameOf(host);
  if (name === undefined) return false;
  if (allowedHosts.some((allowed) => hostnameOf(allowed) === name)) return true;
  const bound = boundAddress.toLowerCase();
  const everywhere = bound === '0.0.0.0' || bound === '::';
  const loopback = isLoopback(bound);
  if (isIP(name) !== 0) return everywhere || name === bound || (loopback && isLoopback(name));
  return name === 'localhost' && (everywhere || loopback);
}

/** The host name of a Host header (`Example.COM:8080` → `example.com`, `[::1]:80` → `::1`); undefined when malformed. */
function hostnameOf(host: string): string | undefined {
  const value = host.trim().toLowerCase().replace(/\.$/, '');
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed) return bracketed[1];
  const plain = /^([a-z0-9.-]+|[0-9a-f:]+)(?::\d{1,5})?$/.exec(value);
  if (!plain) return undefined;
  // A bare IPv6 address (`::1`) has colons of its own; with one colon it is name:port.
  if (isIP(value) === 6) return value;
  return plain[1]!.replace(/\.$/, '');
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || address === '::ffff:127.0.0.1';
}

/** An onRequest hook: 421 for a Host the server does not answer to, saying what would be accepted. */
export function installHostCheck(app: FastifyInstance, allowedHosts: readonly string[]): void {
  app.addHook('onRequest', async (request) => {
    const address = app.server.address();
    const bound = typeof address === 'object' && address ? address.address : '127.0.0.1';
    const host = request.headers.host;
    if (hostAllowed(host, bound, allowedHosts)) return;
    throw new ApiError(
      421,
      'misdirected_request',
      `this server does not answer to host "${String(host).slice(0, 100)}" (it listens on ${bound}); add the name to the server's allowedHosts when a proxy or a DNS name fronts it`,
    );
  });
}
