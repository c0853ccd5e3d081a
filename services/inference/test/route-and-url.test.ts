import type { InferenceJob } from '@creditgate/contracts';
import { describe, expect, it } from 'vitest';
import { routeMismatch } from '../src/jobs/route-check.js';
import { splitBaseUrl } from '../src/routes/custom-endpoint.js';
import { retryDelayMs } from '../src/streaming/relay.js';
import { SsrfError } from '@creditgate/runtime';
import { APIError } from 'openai';
import {
  BrokenStreamError,
  classifyFailure,
  retryAfterMs,
  safeMessage,
  WITHHELD_MESSAGE,
  StreamTimeout,
} from '../src/upstream/errors.js';

function job(
  route: InferenceJob['route'],
  reason: InferenceJob['decision']['reason'],
  decision: 'approved' | 'denied' = 'approved',
): InferenceJob {
  return {
    requestId: 'req_1',
    userId: 'usr_1',
    modelId: 'm',
    route,
    decision: {
      requestId: 'req_1',
      decision,
      reason,
      currency: null,
      hold: '0',
      maxOutputTokens: null,
      outputClamped: false,
    },
    params: { messages: [{ role: 'user', content: 'hi' }], max_tokens: null },
    stream: true,
    includeUsage: false,
    createdAt: 0,
  };
}

const custom = {
  kind: 'custom_endpoint',
  baseUrl: 'http://x',
  providerModelId: 'm',
  sealedApiKey: null,
} as const;
const platform = {
  kind: 'platform',
  provider: 'openai',
  providerModelId: 'm',
  sealedByoKey: null,
} as const;
const byo = { ...platform, sealedByoKey: 'v1.sealed' } as const;

describe('routeMismatch', () => {
  it('accepts each route with the approval it needs', () => {
    expect(routeMismatch(job(custom, 'custom_endpoint'), false)).toBeNull();
    expect(routeMismatch(job(platform, 'balance'), false)).toBeNull();
    expect(routeMismatch(job(platform, 'overspend'), false)).toBeNull();
    expect(routeMismatch(job(byo, 'byo_key'), false)).toBeNull();
    expect(routeMismatch(job(custom, 'balance'), true)).toBeNull();
  });

  it('refuses free approvals on metered routes and the other way round', () => {
    expect(routeMismatch(job(platform, 'custom_endpoint'), false)).toMatch(/platform model/);
    expect(routeMismatch(job(platform, 'byo_key'), false)).toMatch(/platform model/);
    expect(routeMismatch(job(byo, 'balance'), false)).toMatch(/own provider key/);
    expect(routeMismatch(job(custom, 'byo_key'), true)).toMatch(/custom endpoint/);
    expect(routeMismatch(job(custom, 'balance'), false)).toMatch(/custom endpoint/);
  });

  it('refuses denied decisions and decisions of another request', () => {
    expect(routeMismatch(job(platform, 'insufficient_credits', 'denied'), false)).toMatch(
      /not approved/,
    );
    const other = job(custom, 'custom_endpoint');
    other.decision.requestId = 'req_2';
    expect(routeMismatch(other, false)).toMatch(/another request/);
  });
});

describe('splitBaseUrl', () => {
  it.each([
    ['http://127.0.0.1:8000/v1', 'http://127.0.0.1:8000/v1'],
    ['http://127.0.0.1:8000/v1/', 'http://127.0.0.1:8000/v1'],
    ['http://127.0.0.1:8000/v1/chat/completions', 'http://127.0.0.1:8000/v1'],
    ['http://127.0.0.1:8000/v1/chat/completions/', 'http://127.0.0.1:8000/v1'],
    ['http://127.0.0.1:8000', 'http://127.0.0.1:8000'],
    [
      'https://generativelanguage.googleapis.com/v1beta/openai/',
      'https://generativelanguage.googleapis.com/v1beta/openai',
    ],
  ])('uses %s as %s', (input, expected) => {
    expect(splitBaseUrl(input).baseURL).toBe(expected);
  });

  it('keeps a query string apart so it rides on every request', () => {
    expect(splitBaseUrl('https://x.example/openai/deployments/d?api-version=2024-10-21')).toEqual({
      baseURL: 'https://x.example/openai/deployments/d',
      query: { 'api-version': '2024-10-21' },
    });
  });
});

describe('retries and messages', () => {
  it('backs off exponentially with jitter, or waits what Retry-After asks', () => {
    expect(retryDelayMs(0, null, () => 0)).toBe(250);
    expect(retryDelayMs(0, null, () => 1)).toBe(500);
    expect(retryDelayMs(3, null, () => 1)).toBe(4_000);
    expect(retryDelayMs(10, null, () => 1)).toBe(8_000);
    expect(retryDelayMs(2, 1_500, () => 0.3)).toBe(1_500);
  });

  it('reads Retry-After in milliseconds, seconds and as a date', () => {
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '120' }))).toBe(120);
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).toBe(2_000);
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': 'Tue, 01 Jan 2030 00:00:05 GMT' }), now)).toBe(
      5_000,
    );
    expect(retryAfterMs(new Headers())).toBeNull();
  });

  it('keeps the upstream message but drops URLs, addresses and keys', () => {
    const message = safeMessage(
      'Incorrect API key provided: sk-proj-abcdefghijkl at https://10.0.0.5:8000/v1 (from 10.0.0.5:8000, [fd00::1]:80)',
      ['my-secret-key'],
    );
    expect(message).not.toMatch(/sk-proj|10\.0\.0\.5|https?:|fd00/);
    expect(message).toContain('Incorrect API key provided');
    expect(safeMessage('the key my-secret-key is wrong', ['my-secret-key'])).toBe(WITHHELD_MESSAGE);
  });

  it('withholds a message that echoes any form or fragment of a secret of the request', () => {
    const key = 'sk-live-Zq8Xw3Pv7Rt2Yn6Mb4Kd';
    const fragment = key.slice(9, 19);
    const echoes = {
      verbatim: `bad key ${key}`,
      fragment: `key ending ${fragment} is unknown`,
      spaced: `key: ${key.split('').join(' ')}`,
      separated: `key: ${key.slice(0, 12)}...${key.slice(12).split('').join('-')}`,
      uppercased: `KEY ${key.toUpperCase()}`,
      base64: `auth ${Buffer.from(key).toString('base64')}`,
      base64Fragment: `auth ${Buffer.from(key.slice(5, 17)).toString('base64')}`,
      base64url: `auth ${Buffer.from(key.slice(1)).toString('base64url')}`,
      hex: `auth 0x${Buffer.from(key.slice(4, 14)).toString('hex')}`,
      hexUpper: `auth ${Buffer.from(key).toString('hex').toUpperCase()}`,
      urlEncoded: `auth ${encodeURIComponent(key).replace(/[A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}`,
    };
    for (const [form, text] of Object.entries(echoes)) {
      expect(safeMessage(text, [key]), form).toBe(WITHHELD_MESSAGE);
    }
    // Other secrets of the request count too; unrelated text and short common runs pass.
    expect(safeMessage(`x ${Buffer.from(key).toString('hex')}`, ['other-secret', key])).toBe(
      WITHHELD_MESSAGE,
    );
    expect(safeMessage('model overloaded, try later', [key])).toBe('model overloaded, try later');
    expect(safeMessage('the live key was refused', [key])).toBe('the live key was refused');
  });

  it('decides every failure: code, kind and whether a retry may help', () => {
    const http = (status: number) =>
      APIError.generate(status, { error: { message: 'nope' } }, undefined, new Headers());
    expect(classifyFailure(http(429))).toMatchObject({
      code: 'upstream_error',
      kind: 'rate_limited',
      retryable: true,
    });
    expect(classifyFailure(http(502))).toMatchObject({ kind: 'server_error', retryable: true });
    expect(classifyFailure(http(404))).toMatchObject({ kind: 'client_error', retryable: false });
    expect(classifyFailure(http(302))).toMatchObject({ kind: 'redirect', retryable: false });

    const connectTimeout = new TypeError('fetch failed', {
      cause: Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
    });
    expect(classifyFailure(connectTimeout)).toMatchObject({
      code: 'upstream_timeout',
      kind: 'connect_timeout',
      retryable: true,
    });
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:80'), { code: 'ECONNREFUSED' }),
    });
    expect(classifyFailure(refused)).toEqual({
      code: 'upstream_error',
      kind: 'connection',
      message: 'the upstream connection failed (ECONNREFUSED)',
      retryable: true,
      retryAfterMs: null,
    });
    const ssrf = new TypeError('fetch failed', { cause: new SsrfError('private_address') });
    expect(classifyFailure(ssrf)).toMatchObject({ kind: 'ssrf_refused', retryable: false });

    expect(classifyFailure(new StreamTimeout('idle', 100))).toMatchObject({
      code: 'upstream_timeout',
      kind: 'idle_timeout',
    });
    expect(classifyFailure(new BrokenStreamError('cut'))).toMatchObject({
      code: 'upstream_error',
      kind: 'broken_stream',
    });
    expect(classifyFailure(new RangeError('a defect'))).toMatchObject({
      code: 'internal_error',
      kind: 'internal',
    });
  });
});
