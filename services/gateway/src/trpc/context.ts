import type { FastifyBaseLogger as Logger } from 'fastify';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { bearerToken } from '../auth/authenticate.js';
import type { GatewayDeps } from '../deps.js';
import type { RequestOutcome } from '../http/request-context.js';

export interface TrpcContext {
  deps: GatewayDeps;
  requestId: string;
  log: Logger;
  /** The bearer key as sent; only the user procedure turns it into a caller. */
  token: string | undefined;
  /** The request's log line, filled in by procedures. */
  outcome: RequestOutcome;
}

export function contextFactory(deps: GatewayDeps) {
  return ({ req }: CreateFastifyContextOptions): TrpcContext => ({
    deps,
    requestId: req.id,
    log: req.log,
    token: bearerToken(req.headers.authorization),
    outcome: req.outcome,
  });
}
