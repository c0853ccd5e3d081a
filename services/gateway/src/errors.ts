import {
  AppError,
  TRPC_ERROR_CODE,
  type ErrorCode,
  isAppError,
  openAiErrorType,
} from '@creditgate/contracts';
import { TRPCClientError } from '@trpc/client';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import {
  TRPC_ERROR_CODES_BY_KEY,
  type TRPC_ERROR_CODE_KEY,
  type TRPC_ERROR_CODE_NUMBER,
} from '@trpc/server/rpc';
import { ZodError, type z } from 'zod';

/**
 * The one place where failures become what a caller sees: the OpenAI envelope on /v1 (and on
 * every plain HTTP error), a tRPC error shape on /trpc. Anything that is not an expected outcome
 * becomes an opaque internal error, so no stack trace, SQL or internal address leaks out.
 */

const TRPC_CODE = TRPC_ERROR_CODE satisfies Record<ErrorCode, TRPC_ERROR_CODE_KEY>;

/** Client errors that billing (or tRPC itself) answers with, by HTTP status. */
const CLIENT_STATUS_CODE: Record<number, ErrorCode> = {
  400: 'invalid_request_error',
  402: 'insufficient_credits',
  403: 'forbidden',
  404: 'not_found',
  405: 'invalid_request_error',
  409: 'idempotency_conflict',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_exceeded',
};

export interface OpenAiErrorEnvelope {
  error: { message: string; type: string; code: ErrorCode };
}

/** "messages: must contain at least one message; temperature: too big" */
export function summarizeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.slice(0, 5).map((issue) => {
    const where = issue.path.length ? issue.path.join('.') : 'body';
    return `${where}: ${issue.message}`;
  });
  if (issues.length > 5) parts.push(`and ${issues.length - 5} more`);
  return parts.join('; ');
}

const REDIS_DOWN_RE =
  /Connection is closed|Stream isn't writeable|ECONNREFUSED|max retries per request|ETIMEDOUT|enableOfflineQueue/i;

function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'MaxRetriesPerRequestError' || REDIS_DOWN_RE.test(error.message);
}

/** Turns any thrown value into a domain error that is safe to show. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (error instanceof ZodError) {
    return new AppError('invalid_request_error', summarizeIssues(error.issues), { cause: error });
  }

  if (error instanceof TRPCError) {
    if (error.cause && error.code === 'INTERNAL_SERVER_ERROR') return toAppError(error.cause);
    if (error.cause instanceof ZodError || isAppError(error.cause)) return toAppError(error.cause);
    // tRPC's own refusals (unknown procedure, batch too large, bad method) are safe to show.
    const code = CLIENT_STATUS_CODE[getHTTPStatusCodeFromError(error)];
    if (code) return new AppError(code, error.message, { cause: error });
    return new AppError('internal_error', 'internal error', { cause: error });
  }

  if (error instanceof TRPCClientError) {
    // A call to billing. A 4xx is billing's verdict on the request and is passed on; anything
    // else (refused connection, 5xx, timeout, a service token billing does not accept) means
    // billing cannot answer for us right now.
    const data = error.data as { httpStatus?: number; appCode?: ErrorCode } | undefined;
    const status = data?.httpStatus;
    if (status !== undefined && status >= 400 && status < 500 && status !== 401) {
      const code = data?.appCode ?? CLIENT_STATUS_CODE[status] ?? 'invalid_request_error';
      return new AppError(code, error.message, { cause: error });
    }
    return new AppError('service_unavailable', 'billing is unavailable, try again shortly', {
      cause: error,
    });
  }

  if (isRedisUnavailable(error)) {
    return new AppError(
      'service_unavailable',
      'the request queue is unavailable, try again shortly',
      {
        cause: error,
      },
    );
  }

  // Fastify's own errors (body parsing, limits) carry a 4xx status and a message safe to show.
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) {
      return new AppError('request_too_large', 'request body is larger than the allowed limit', {
        cause: error,
      });
    }
    if (status === 415) {
      // Fastify's own text is the status name; say what to send (curl -d sends a form).
      return new AppError(
        'invalid_request_error',
        'send the body as JSON, with content-type: application/json',
        { cause: error },
      );
    }
    const code = CLIENT_STATUS_CODE[status] ?? 'invalid_request_error';
    return new AppError(code, (error as Error).message, { cause: error });
  }

  return new AppError('internal_error', 'internal error', { cause: error });
}

/**
 * True when the failure is ours or a dependency's (logged at error with its cause); false for
 * the caller's mistakes and for what the model's server did (upstream errors and timeouts).
 */
export function isServerFailure(error: AppError): boolean {
  return (
    error.status >= 500 && error.code !== 'upstream_error' && error.code !== 'upstream_timeout'
  );
}

export function openAiEnvelope(error: AppError): OpenAiErrorEnvelope {
  return { error: { message: error.message, type: openAiErrorType(error.code), code: error.code } };
}

/** The data every /trpc error carries: tRPC's code and status plus our stable `appCode`. */
export interface GatewayErrorData {
  code: TRPC_ERROR_CODE_KEY;
  httpStatus: number;
  path?: string;
  appCode: ErrorCode;
}

/** The tRPC error shape for a failure; used as the router's `errorFormatter`. */
export function trpcErrorShape(
  error: TRPCError,
  path: string | undefined,
): { code: TRPC_ERROR_CODE_NUMBER; message: string; data: GatewayErrorData } {
  const appError = toAppError(error);
  const code = TRPC_CODE[appError.code];
  return {
    code: TRPC_ERROR_CODES_BY_KEY[code],
    message: appError.message,
    data: { code, httpStatus: appError.status, appCode: appError.code, ...(path ? { path } : {}) },
  };
}
