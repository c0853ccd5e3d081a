import { newId, REQUEST_ID_RE, type RouteClass, type Usage } from '@creditgate/contracts';
import type { FastifyInstance, RawRequestDefaultExpression } from 'fastify';

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

/** The incoming `x-request-id` when it is well-formed, else a fresh `req_` id. */
export function requestIdFor(raw: RawRequestDefaultExpression): string {
  const header = raw.headers['x-request-id'];
  const value = Array.isArray(header) ? header[0] : header;
  return value && REQUEST_ID_RE.test(value) ? value : newId('request');
}

/**
 * Every response carries `x-request-id`, and every request ends in exactly one log line with
 * its outcome (never a body, a key or a prompt). Fastify's own per-request lines are off.
 */
export function installRequestContext(app: FastifyInstance): void {
  app.decorateRequest('outcome', null as unknown as RequestOutcome);

  app.addHook('onRequest', async (request, reply) => {
    request.outcome = {};
    reply.header('x-request-id', request.id);
  });

  app.addHook('onResponse', async (request, reply) => {
    const { error, ...outcome } = request.outcome;
    const fields = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime),
      ...outcome,
    };
    // Our own failures log at error with their cause; a refusal we chose (503 while not ready,
    // 502 from upstream) at warn; caller errors and successes at info.
    if (error) request.log.error({ ...fields, err: error }, 'request failed');
    else if (reply.statusCode >= 500) request.log.warn(fields, 'request refused');
    else request.log.info(fields, 'request');
  });
}
