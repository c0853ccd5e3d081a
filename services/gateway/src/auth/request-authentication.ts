import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../deps.js';
import { bearerToken, type Caller } from './authenticate.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller of the request's API key; awaited by every route that needs one. */
    authentication: Promise<Caller>;
  }
}

/**
 * Starts each request's API key lookup as soon as its headers are in, so the database round trip
 * runs alongside the rate limit check instead of after it (it needs nothing from the body: see
 * Authenticator). A request the rate limit refuses drops the result.
 *
 * So a refused request still costs one indexed lookup, as one with an unknown key always has
 * (a limit per key cannot stop a caller who sends a new random key each time): the rate limit
 * guards the queue and the models behind it, not this lookup.
 */
export function startAuthentication(app: FastifyInstance, deps: Pick<GatewayDeps, 'auth'>): void {
  app.decorateRequest('authentication', null as unknown as Promise<Caller>);
  app.addHook('onRequest', async (request) => {
    const authentication = deps.auth.authenticate(bearerToken(request.headers.authorization));
    authentication.catch(() => undefined);
    request.authentication = authentication;
  });
}
