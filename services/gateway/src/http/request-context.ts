import {
  AppError,
  CLIENT_REQUEST_ID_RE,
  clientRequestId,
  newId,
  type RouteClass,
  type Usage,
} from '@creditgate/contracts';
import type { FastifyInstance, RawRequestDefaultExpression } from 'fastify';
import { bearerToken } from '../auth/authenticate.js';

/** What the request line in the log says about a request, filled in as it progresses. */
export interface RequestOutcome {
  userId?: string;
  model?: string;
  routeClass?: RouteClass;
  decision?: string;
  promptTokens?: number;
  usage?: Usage;
  cost?: string;
  finishReason?: string | null;
  errorCode?: string;
  error?: unknown;
}

declare module 'fastify' {
  interface FastifyRequest {
    outcome: RequestOutcome;
  }
}

/**
 * The request's id: derived from a well-formed `x-request-id` and the API key it came with
 * (see clientRequestId), else a fresh `req_` id. Request ids are the job id, the event stream
 * and billing's key, so a client's own value is never used as it is: two keys sending the same
 * value must never meet.
 */
export function requestIdFor(raw: RawRequestDefaultExpression): string {
  const value = raw.headers['x-request-id'];
  const apiKey = bearerToken(raw.headers.authorization);
  if (typeof value === 'string' && apiKey && CLIENT_REQUEST_ID_RE.test(value)) {
    return clientRequestId(apiKey, value);
  }
  return newId('request');
}

/** Refuses a malformed `x-request-id` on the API routes, instead of silently replacing it. */
export function refuseMalformedRequestId(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const value = request.headers['x-request-id'];
    if (value === undefined || (typeof value === 'string' && CLIENT_REQUEST_ID_RE.test(value))) {
      return;
    }
    throw new AppError(
      'invalid_request_error',
      'x-request-id must be 8 to 128 letters, digits or _ . : - (sent once)',
    );
  });
}

/**
 * Every response carries `x-request-id`, and every request ends in exactly one log line with
 * its outcome and the `x-request-id` the client sent, if any (never a body, a key or a prompt). Fastify's own per-request lines are off.
 */
export function installRequestContext(app: FastifyInstance): void {
  app.decorateRequest('outcome', null as unknown as RequestOutcome);

  app.addHook('onRequest', async (request, reply) => {
    request.outcome = {};
    reply.header('x-request-id', request.id);
  });

  app.addHook('onResponse', async (request, reply) => {
    const { error, ...outcome } = request.outcome;
    // The value the client sent, when it was well formed: its request id is derived from it,
    // so this is how an operator handed the client's value finds the request.
    const sent = request.headers['x-request-id'];
    const fields = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime),
      ...(typeof sent === 'string' && CLIENT_REQUEST_ID_RE.test(sent)
        ? { clientRequestId: sent }
        : {}),
      ...outcome,
    };
    // Our own failures log at error with their cause; a refusal we chose (503 while not ready,
    // 502 from upstream) at warn; caller errors and successes at info.
    if (error) request.log.error({ ...fields, err: error }, 'request failed');
    else if (reply.statusCode >= 500) request.log.warn(fields, 'request refused');
    else request.log.info(fields, 'request');
  });
}
