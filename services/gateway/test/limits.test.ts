import { connect } from 'node:net';
import { TRPCClientError } from '@trpc/client';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, startStack, type Stack } from '../../../test/support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    worker: false,
    env: { RATE_LIMIT_PER_MINUTE: '3', BODY_LIMIT_BYTES: '4096' },
  });
});

afterAll(async () => {
  await stack?.close();
});

describe('abuse limits', () => {
  it('answers 429 rate_limit_exceeded with Retry-After once a key spends its minute', async () => {
    const user = await stack.createUser();
    const headers = { authorization: `Bearer ${user.apiKey}` };
    for (let i = 0; i < 3; i++) {
      expect((await fetch(`${stack.gateway.url}/v1/models`, { headers })).status).toBe(200);
    }
    const limited = await fetch(`${stack.gateway.url}/v1/models`, { headers });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = await envelope(limited);
    expect(body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' });

    // The limit is per key: another user is not affected, and the OpenAI client sees a 429.
    const other = await stack.createUser();
    expect((await stack.openai(other.apiKey).models.list()).data.length).toBeGreaterThan(0);
    const error = await stack
      .openai(user.apiKey)
      .models.list()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('does not rate limit health checks', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await fetch(`${stack.gateway.url}/healthz`)).status).toBe(200);
    }
  });

  it('answers 413 request_too_large above BODY_LIMIT_BYTES', async () => {
    const user = await stack.createUser();
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x'.repeat(5_000) }],
      }),
    });
    expect(response.status).toBe(413);
    expect((await envelope(response)).error.code).toBe('request_too_large');
  });

  it('answers what the HTTP parser refuses in the OpenAI envelope too', async () => {
    /** Sends raw bytes and reads the whole answer; the gateway closes the connection. */
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(stack.gateway.url);
        const socket = connect(Number(port), '127.0.0.1', () => socket.end(request));
        let answer = '';
        socket.on('data', (data: Buffer) => (answer += data.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

    const oversized = await raw(
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(oversized).toMatch(/^HTTP\/1.1 431 /);
    expect(bodyOf(oversized).error).toMatchObject({ code: 'request_too_large' });

    const malformed = await raw(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
    );
    expect(malformed).toMatch(/^HTTP\/1.1 400 /);
    expect(bodyOf(malformed).error).toEqual({
      message: 'the request is not valid HTTP',
      type: 'invalid_request_error',
      code: 'invalid_request_error',
    });
  });

  it('refuses a tRPC batch larger than the limit with 400', async () => {
    const user = await stack.createUser();
    const paths = Array.from({ length: 21 }, () => 'models.list').join(',');
    const input = encodeURIComponent(JSON.stringify({}));
    const response = await fetch(`${stack.gateway.url}/trpc/${paths}?batch=1&input=${input}`, {
      headers: { authorization: `Bearer ${user.apiKey}` },
    });
    expect(response.status).toBe(400);

    // The same for mutations, whose batch travels in the body.
    const creates = Array.from({ length: 21 }, () => 'keys.create').join(',');
    const body = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [i, { name: `k${i}` }]));
    const posted = await fetch(`${stack.gateway.url}/trpc/${creates}?batch=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(posted.status).toBe(400);
    expect(await stack.trpc(user.apiKey).keys.list.query()).toHaveLength(1);
  });
});

describe('when Redis cannot be reached', () => {
  it('refuses requests with 503 instead of skipping the rate limit', async () => {
    const user = await stack.createUser();
    stack.gateway.deps.redis.disconnect();
    const response = await fetch(`${stack.gateway.url}/v1/models`, {
      headers: { authorization: `Bearer ${user.apiKey}` },
    });
    expect(response.status).toBe(503);
    const body = await envelope(response);
    expect(body.error.code).toBe('service_unavailable');
    expect(body.error.message).not.toMatch(/127\.0\.0\.1|6379/);

    const trpcError = await stack
      .trpc(user.apiKey)
      .models.list.query()
      .catch((e: unknown) => e);
    expect(trpcError).toBeInstanceOf(TRPCClientError);
  });
});
