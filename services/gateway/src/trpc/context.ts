import type { FastifyBaseLogger as Logger } from 'fastify';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { Caller } from '../auth/authenticate.js';
import type { GatewayDeps } from '../deps.js';
import type { RequestOutcome } from '../http/request-context.js';

export interface TrpcContext {
  deps: GatewayDeps;
  requestId: string;
  log: Logger;
  /** The caller of the request's API key (see startAuthentication); user procedures await it. */
  authentication: Promise<Caller>;
  /** The request's log line, filled in by procedures. */
  outcome: RequestOutcome;
}

export function contextFactory(deps: GatewayDeps) {
  return ({ req }: CreateFastifyContextOptions): TrpcContext => ({
    deps,
    requestId: req.id,
    log: req.log,
    authentication: req.authentication,
    outcome: req.outcome,
  });
}
