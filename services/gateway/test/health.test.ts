import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_TOKEN, startStack, type Stack } from '../../../test/support/stack.js';

let stack: Stack;

beforeAll(async () => {
  // The worker is started by the readiness tests themselves.
  stack = await startStack({ worker: false });
});

afterAll(async () => {
  await stack?.close();
});

describe('health, readiness and metrics', () => {
  it('answers /healthz while the process is up', async () => {
    const response = await fetch(`${stack.gateway.url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('is not ready without a worker heartbeat, and says so', async () => {
    const response = await fetch(`${stack.gateway.url}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: 'unavailable',
      checks: { postgres: 'ok', redis: 'ok', billing: 'ok', worker: 'unavailable' },
    });
  });

  it('is ready once a worker runs, and unready again when it stops', async () => {
    const worker = await stack.addWorker();
    const ready = await fetch(`${stack.gateway.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', redis: 'ok', billing: 'ok', worker: 'ok' },
    });

    await worker.close();
    expect((await fetch(`${stack.gateway.url}/readyz`)).status).toBe(503);
  });

  it('exposes HTTP, authorization and queue metrics', async () => {
    const user = await stack.createUser();
    await stack
      .openai(user.apiKey)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })
      .catch(() => undefined);

    const text = await (
      await fetch(`${stack.gateway.url}/metrics`, {
        headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
      })
    ).text();
    expect(text).toMatch(/http_request_duration_seconds_count\{.*route="\/v1\/chat\/completions"/);
    expect(text).toMatch(
      /gateway_authorizations_total\{decision="denied",reason="insufficient_credits"/,
    );
    expect(text).toMatch(/gateway_queue_jobs\{state="waiting"/);
  });
});
