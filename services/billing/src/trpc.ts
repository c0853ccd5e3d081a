import { REQUEST_ID_RE, TRPC_ERROR_CODE, isAppError, type ErrorCode } from '@creditgate/contracts';
import { tokensEqual, type Logger } from '@creditgate/runtime';
import { getTRPCErrorFromUnknown, initTRPC, TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { ZodError } from 'zod';
import type { Ledger } from './ledger/index.js';
import type { BillingMetrics } from './metrics.js';

/** What every procedure can reach: the ledger, metrics, and the caller's request id and logger. */
export interface BillingContext {
  ledger: Ledger;
  metrics: BillingMetrics;
  /** True when the HTTP request carried the service token (checked once for all its calls). */
  authorized: boolean;
  requestId: string | undefined;
  log: Logger;
}

export interface ContextDeps {
  ledger: Ledger;
  metrics: BillingMetrics;
  serviceToken: string;
  logger: Logger;
}

export function contextFactory(deps: ContextDeps) {
  return ({ req }: CreateFastifyContextOptions): BillingContext => {
    const token = req.headers['x-service-token'];
    const header = req.headers['x-request-id'];
    const requestId = typeof header === 'string' && REQUEST_ID_RE.test(header) ? header : undefined;
    return {
      ledger: deps.ledger,
      metrics: deps.metrics,
      authorized: tokensEqual(typeof token === 'string' ? token : undefined, deps.serviceToken),
      requestId,
      log: requestId ? deps.logger.child({ requestId }) : deps.logger,
    };
  };
}

/**
 * The logger for lines about one request. An HTTP request that carried a single call names its
 * request id in `x-request-id`; one carrying a batch (several calls, or `authorizeMany`) cannot,
 * so each line about an item names the item's own request id.
 */
export function requestLog(ctx: BillingContext, requestId: string): Logger {
  return ctx.requestId === requestId ? ctx.log : ctx.log.child({ requestId });
}

/**
 * Most calls one tRPC batch request may carry, and most items one `authorizeMany` or `settleMany`
 * call may carry; callers batching billing calls stay below it.
 */
export const MAX_BATCH_SIZE = 256;

/** The one place domain error codes become tRPC codes (and so HTTP statuses). */
const TRPC_CODE = TRPC_ERROR_CODE satisfies Record<ErrorCode, TRPCError['code']>;

/** The stable code callers read from `error.data.appCode`. */
function appCodeOf(error: TRPCError): ErrorCode | undefined {
  if (isAppError(error.cause)) return error.cause.code;
  switch (error.code) {
    case 'BAD_REQUEST':
      return 'invalid_request_error';
    case 'UNAUTHORIZED':
      return 'invalid_api_key';
    case 'NOT_FOUND':
      return 'not_found';
    case 'INTERNAL_SERVER_ERROR':
      return 'internal_error';
    default:
      return undefined;
  }
}

/** Why one item of a batched call failed: what `error.data` of the same call made alone carries. */
export interface ItemError {
  message: string;
  code: TRPCError['code'];
  httpStatus: number;
  appCode: ErrorCode | undefined;
  details: Record<string, unknown> | undefined;
}

/** Maps an item's failure like the error formatter maps a call's; unexpected ones are internal. */
export function itemError(cause: unknown): ItemError {
  const error = isAppError(cause)
    ? new TRPCError({ code: TRPC_CODE[cause.code], message: cause.message, cause })
    : getTRPCErrorFromUnknown(cause);
  return {
    message: error.code === 'INTERNAL_SERVER_ERROR' ? 'internal error' : error.message,
    code: error.code,
    httpStatus: getHTTPStatusCodeFromError(error),
    appCode: appCodeOf(error),
    details: isAppError(cause) ? cause.details : undefined,
  };
}

/** "path: message; ..." for input validation failures, instead of tRPC's JSON dump. */
function describeIssues(cause: unknown): string | undefined {
  if (!(cause instanceof ZodError)) return undefined;
  return cause.issues
    .map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`)
    .join('; ');
}

const t = initTRPC.context<BillingContext>().create({
  errorFormatter({ shape, error }) {
    // Stack traces never leave the service; callers get the stable code and safe details.
    const { stack: _stack, ...data } = shape.data;
    let message = shape.message;
    if (error.code === 'INTERNAL_SERVER_ERROR') message = 'internal error';
    else if (error.code === 'BAD_REQUEST') message = describeIssues(error.cause) ?? message;
    return {
      ...shape,
      message,
      data: {
        ...data,
        appCode: appCodeOf(error),
        details: isAppError(error.cause) ? error.cause.details : undefined,
      },
    };
  },
});

export const router = t.router;

/**
 * Every billing procedure: callable only with the service token, never with a user's key; domain
 * errors leave as their tRPC codes. One middleware for both, since each middleware level copies
 * the call's options and context, a cost paid on every call of a batch.
 */
export const serviceProcedure = t.procedure.use(async ({ ctx, next }) => {
  if (!ctx.authorized) {
    throw new TRPCError({ code: 'UNAUTHORIZED', message: 'a valid x-service-token is required' });
  }
  const result = await next();
  if (!result.ok && isAppError(result.error.cause)) {
    const cause = result.error.cause;
    throw new TRPCError({ code: TRPC_CODE[cause.code], message: cause.message, cause });
  }
  return result;
});
