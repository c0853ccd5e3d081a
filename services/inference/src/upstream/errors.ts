import { APIError as AnthropicApiError } from '@anthropic-ai/sdk';
import { isIP } from 'node:net';
import { SsrfError } from '@creditgate/runtime';
import { APIError as OpenAiApiError } from 'openai';
import { echoesSecret } from './secret-echo.js';

/** The stream was cut: truncated JSON, or the body ended before the answer was complete. */
export class BrokenStreamError extends Error {
  override readonly name = 'BrokenStreamError';
}

/** The upstream reported an error inside a 200 stream (an `error` object or event). */
export class UpstreamStreamError extends Error {
  override readonly name = 'UpstreamStreamError';
}

/** The request cannot be expressed for this upstream (for example tools on a route without them). */
export class UnsupportedRequestError extends Error {
  override readonly name = 'UnsupportedRequestError';
}

/** The route cannot be executed with this configuration (a provider without a key). */
export class RouteConfigError extends Error {
  override readonly name = 'RouteConfigError';
}

/** Why the worker aborted an upstream call itself. */
export class StreamTimeout extends Error {
  override readonly name = 'StreamTimeout';

  constructor(
    /** `hold`: the answer ran until its credit hold was about to expire. */
    readonly phase: 'first_token' | 'idle' | 'hold',
    readonly afterMs: number,
  ) {
    super(
      phase === 'first_token'
        ? `the upstream sent no token within ${afterMs} ms`
        : phase === 'idle'
          ? `the upstream stream was silent for more than ${afterMs} ms`
          : `the answer ran for ${afterMs} ms, as long as its credit hold allows, and was cut`,
    );
  }
}

/**
 * An abort that came from outside the stream: the client cancelled, the worker shuts down
 * (`shutdown`: the deadline passed while tokens flowed), or it hands the job back to the queue
 * (`handback`: shutdown began before anything was streamed).
 */
export class JobAbort extends Error {
  override readonly name = 'JobAbort';

  constructor(readonly kind: 'cancelled' | 'shutdown' | 'handback') {
    super(JOB_ABORT_MESSAGES[kind]);
  }
}

const JOB_ABORT_MESSAGES: Record<JobAbort['kind'], string> = {
  cancelled: 'the request was cancelled',
  shutdown: 'the worker is shutting down',
  handback: 'the worker is shutting down; the request goes back to the queue',
};

export type FailureKind =
  | 'rate_limited'
  | 'server_error'
  | 'client_error'
  | 'redirect'
  | 'connection'
  | 'connect_timeout'
  | 'first_token_timeout'
  | 'idle_timeout'
  | 'hold_timeout'
  | 'ssrf_refused'
  | 'broken_stream'
  | 'stream_error'
  | 'unsupported'
  | 'config'
  | 'internal';

/** What a failure means for the job: the client's error code, a safe message, and whether to retry. */
export interface UpstreamFailure {
  code: 'upstream_error' | 'upstream_timeout' | 'internal_error';
  kind: FailureKind;
  message: string;
  /** Worth another attempt, if nothing was streamed yet and the budget allows. */
  retryable: boolean;
  /** What the upstream asked for with `Retry-After` / `retry-after-ms`, in ms. */
  retryAfterMs: number | null;
}

interface HttpErrorLike {
  status: number;
  headers?: Headers;
  error?: unknown;
  message: string;
}

/** An HTTP error answer from either SDK; their connection errors are APIErrors without status. */
function isHttpError(error: unknown): error is HttpErrorLike {
  return (
    (error instanceof OpenAiApiError || error instanceof AnthropicApiError) &&
    typeof error.status === 'number'
  );
}

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current && chain.length < 8) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

const URL_RE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
const IPV4_RE = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g;
const IPV6_RE = /\[?(?:[0-9a-f]{0,4}:){2,7}[0-9a-f.]{0,15}\]?(?::\d+)?/gi;
const KEY_RE = /\b(?:sk|pk|rk|cg|key|token)[-_][A-Za-z0-9_*.-]{6,}/gi;

/** What is shown instead of an upstream message that repeats a credential of the request. */
export const WITHHELD_MESSAGE =
  'the upstream message was withheld because it repeated a credential';

/**
 * An upstream's own error message, made safe to show to the client: no URL, no address, nothing
 * that looks like a key, and nothing at all when it echoes any form of the secrets this request
 * carried (see echoesSecret).
 */
export function safeMessage(text: string, secrets: readonly string[] = []): string {
  if (echoesSecret(text, secrets)) return WITHHELD_MESSAGE;
  const out = text
    .slice(0, 2_000)
    .replace(URL_RE, '[url]')
    .replace(IPV4_RE, '[address]')
    .replace(IPV6_RE, (match) => (isIP(match.replace(/^\[|\](:\d+)?$/g, '')) ? '[address]' : match))
    .replace(KEY_RE, '[redacted]')
    .replace(/\s+/g, ' ')
    .trim();
  return out.length > 300 ? `${out.slice(0, 297)}...` : out;
}

/** `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | null {
  if (!headers) return null;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : null;
}

function upstreamText(error: HttpErrorLike): string {
  const body = error.error as { message?: unknown; error?: { message?: unknown } } | undefined;
  const text =
    typeof body?.message === 'string'
      ? body.message
      : typeof body?.error?.message === 'string'
        ? body.error.message
        : error.message.replace(/^\d{3}\s*/, '');
  return text || 'no message';
}

/**
 * The one place every upstream failure is decided: the client-facing code and message, the
 * metric kind, and whether a retry before the first token may help.
 */
export function classifyFailure(error: unknown, secrets: readonly string[] = []): UpstreamFailure {
  const fail = (
    code: UpstreamFailure['code'],
    kind: FailureKind,
    message: string,
    retryable = false,
    retryAfter: number | null = null,
  ): UpstreamFailure => ({ code, kind, message, retryable, retryAfterMs: retryAfter });

  if (error instanceof StreamTimeout) {
    const kind = (
      {
        first_token: 'first_token_timeout',
        idle: 'idle_timeout',
        hold: 'hold_timeout',
      } as const
    )[error.phase];
    return fail('upstream_timeout', kind, error.message);
  }
  if (error instanceof SsrfError) return fail('upstream_error', 'ssrf_refused', error.message);
  if (error instanceof BrokenStreamError) {
    return fail('upstream_error', 'broken_stream', error.message);
  }
  if (error instanceof UpstreamStreamError) {
    return fail('upstream_error', 'stream_error', safeMessage(error.message, secrets));
  }
  if (error instanceof UnsupportedRequestError) {
    return fail('upstream_error', 'unsupported', error.message);
  }
  if (error instanceof RouteConfigError) return fail('internal_error', 'config', error.message);

  if (isHttpError(error)) {
    const status = error.status;
    const text = safeMessage(upstreamText(error), secrets);
    const after = retryAfterMs(error.headers);
    if (status === 429) {
      return fail(
        'upstream_error',
        'rate_limited',
        `upstream rate limit (429): ${text}`,
        true,
        after,
      );
    }
    if (status >= 500) {
      return fail(
        'upstream_error',
        'server_error',
        `upstream error (${status}): ${text}`,
        true,
        after,
      );
    }
    if (status >= 300 && status < 400) {
      return fail(
        'upstream_error',
        'redirect',
        `the upstream answered with a redirect (${status}), which is not followed`,
      );
    }
    return fail(
      'upstream_error',
      'client_error',
      `upstream refused the request (${status}): ${text}`,
    );
  }

  const chain = causes(error);
  const ssrf = chain.find((e): e is SsrfError => e instanceof SsrfError);
  if (ssrf) return fail('upstream_error', 'ssrf_refused', ssrf.message);

  const codes = chain.map((e) => (e as { code?: unknown }).code).filter(Boolean);
  const names = chain.map((e) => (e as { name?: unknown }).name);
  if (codes.includes('UND_ERR_CONNECT_TIMEOUT') || names.includes('APIConnectionTimeoutError')) {
    return fail(
      'upstream_timeout',
      'connect_timeout',
      'connecting to the upstream timed out',
      true,
    );
  }
  const transport =
    names.includes('APIConnectionError') ||
    codes.some((c) => typeof c === 'string' && /^(UND_ERR_|E[A-Z]+$)/.test(c)) ||
    chain.some((e) => e instanceof TypeError && /^(fetch failed|terminated)$/.test(e.message));
  if (transport) {
    const code = codes.find((c) => typeof c === 'string' && /^E[A-Z]+$/.test(c));
    const detail = code ? ` (${String(code)})` : '';
    return fail('upstream_error', 'connection', `the upstream connection failed${detail}`, true);
  }
  return fail('internal_error', 'internal', 'internal error while calling the upstream');
}
