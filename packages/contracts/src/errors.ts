/**
 * Stable error codes shared by every surface. Each surface maps them to its own shape in one
 * place (OpenAI envelope on /v1, TRPCError on /trpc, stderr + exit code in the CLI).
 */
export const ERROR_STATUS = {
  invalid_request_error: 400,
  invalid_api_key: 401,
  insufficient_credits: 402,
  forbidden: 403,
  model_not_found: 404,
  not_found: 404,
  idempotency_conflict: 409,
  request_too_large: 413,
  rate_limit_exceeded: 429,
  internal_error: 500,
  upstream_error: 502,
  service_unavailable: 503,
  upstream_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The tRPC error code each domain code maps to (tRPC derives the HTTP status from it). */
export const TRPC_ERROR_CODE = {
  invalid_request_error: 'BAD_REQUEST',
  invalid_api_key: 'UNAUTHORIZED',
  insufficient_credits: 'PAYMENT_REQUIRED',
  forbidden: 'FORBIDDEN',
  model_not_found: 'NOT_FOUND',
  not_found: 'NOT_FOUND',
  idempotency_conflict: 'CONFLICT',
  request_too_large: 'PAYLOAD_TOO_LARGE',
  rate_limit_exceeded: 'TOO_MANY_REQUESTS',
  internal_error: 'INTERNAL_SERVER_ERROR',
  upstream_error: 'BAD_GATEWAY',
  service_unavailable: 'SERVICE_UNAVAILABLE',
  upstream_timeout: 'GATEWAY_TIMEOUT',
} as const satisfies Record<ErrorCode, string>;

/** A domain error: an expected outcome with a stable code, safe to show to the caller. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options?.details;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** OpenAI's `error.type` for each status family. */
export function openAiErrorType(code: ErrorCode): string {
  switch (code) {
    case 'invalid_request_error':
    case 'model_not_found':
    case 'not_found':
    case 'idempotency_conflict':
    case 'request_too_large':
      return 'invalid_request_error';
    case 'invalid_api_key':
      return 'authentication_error';
    case 'forbidden':
      return 'permission_error';
    case 'insufficient_credits':
      return 'insufficient_quota';
    case 'rate_limit_exceeded':
      return 'rate_limit_error';
    case 'upstream_error':
    case 'upstream_timeout':
      return 'upstream_error';
    case 'service_unavailable':
      return 'service_unavailable';
    case 'internal_error':
      return 'server_error';
  }
}
