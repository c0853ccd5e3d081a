import { INFERENCE_QUEUE, newId } from '@creditgate/contracts';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixture-server.js';
import { contentOf, startHarness, terminalOf, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    env: {
      UPSTREAM_FIRST_TOKEN_TIMEOUT_MS: '1000',
      UPSTREAM_IDLE_TIMEOUT_MS: '1000',
      UPSTREAM_MAX_RETRIES: '2',
    },
  });
});
afterAll(async () => {
  await h?.close();
});

const chunkCount = (n: number) => (events: Array<{ type: string }>) =>
  events.filter((e) => e.type === 'chunk').length >= n;

/** A promise the test resolves by hand, to hold a fixture mid-stream. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function runCustom(
  name: string,
  ...replies: Parameters<Harness['fixtures']['scenario']>[1][]
) {
  const base = h.fixtures.scenario(name, ...replies);
  const job = await h.submit({
    route: h.customRoute(`${base}/v1`, 'sk-user-endpoint-key-777'),
    modelId: `mdl_${name}`,
  });
  return { job, events: await h.events(job.requestId) };
}

describe('cancellation', () => {
  it('aborts the upstream call on a cancel and settles the partial answer as aborted', async () => {
    const held = gate();
    const base = h.fixtures.scenario('cancel', {
      kind: 'sse',
      body: fixture('openai.sse'),
      holdAfter: 3,
      release: held.promise,
    });
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: 'mdl_cancel' });
    const partial = await h.events(job.requestId, chunkCount(3));
    expect(contentOf(partial)).toBe('The capital');

    const queueEvents = new QueueEvents(INFERENCE_QUEUE, {
      connection: { url: h.redisUrl },
      prefix: h.keys.bullPrefix,
    });
    await queueEvents.waitUntilReady();
    const finished = new Promise<void>((resolve) =>
      queueEvents.on('completed', ({ jobId }) => jobId === job.requestId && resolve()),
    );
    expect(await h.redis.publish(h.keys.cancelChannel, job.requestId)).toBeGreaterThan(0);
    // The upstream is held open until the test releases it: only the cancel can end the call.
    await h.fixtures.disconnected('cancel');

    // Nobody reads a cancelled answer: once settled, only its end event stays in Redis.
    await finished;
    await queueEvents.close();
    const events = await h.events(job.requestId);
    expect(events.map((event) => event.type)).toEqual(['end']);
    const end = terminalOf(events);
    expect(end).toMatchObject({ type: 'end', finishReason: null, usageEstimated: true });
    const [settle] = h.proxy.of('settle', job.requestId);
    expect(settle!.input).toMatchObject({
      status: 'aborted',
      usageEstimated: true,
      usage: { output: 2 },
    });
    held.open();
  });

  it('drops a request cancelled before its job started, without calling upstream', async () => {
    const requestId = newId('request');
    const base = h.fixtures.scenario('cancel-early', { kind: 'sse', body: fixture('openai.sse') });
    await h.redis.publish(h.keys.cancelChannel, requestId);
    await h.submit({ requestId, route: h.customRoute(`${base}/v1`), modelId: 'mdl_early' });

    expect(terminalOf(await h.events(requestId))).toMatchObject({
      type: 'error',
      code: 'internal_error',
    });
    expect(h.fixtures.requests('cancel-early')).toHaveLength(0);
    expect(h.proxy.of('void', requestId)).toHaveLength(1);
    expect(h.proxy.of('settle', requestId)).toHaveLength(0);
  });
});

describe('retries before the first token', () => {
  it('retries a 429 after its Retry-After and then streams', async () => {
    const { job, events } = await runCustom(
      'retry-429',
      {
        kind: 'json',
        status: 429,
        body: { error: { message: 'Rate limit reached' } },
        headers: { 'retry-after-ms': '20' },
      },
      { kind: 'sse', body: fixture('openai.sse') },
    );
    expect(terminalOf(events)).toMatchObject({ type: 'end', finishReason: 'stop' });
    expect(contentOf(events)).toBe('The capital of France is Paris.');
    expect(h.fixtures.requests('retry-429')).toHaveLength(2);
    expect(h.proxy.of('settle', job.requestId)).toHaveLength(1);

    const metrics = await h.workers[0]!.metrics.registry.getSingleMetricAsString(
      'inference_upstream_errors_total',
    );
    expect(metrics).toMatch(/provider="custom_endpoint",kind="rate_limited"[^\n]* [1-9]/);
  });

  it('gives up after the configured retries of a 5xx with the upstream message', async () => {
    const { job, events } = await runCustom('retry-503', {
      kind: 'json',
      status: 503,
      body: { error: { message: 'Service overloaded' } },
      headers: { 'retry-after-ms': '5' },
    });
    expect(terminalOf(events)).toEqual({
      type: 'error',
      code: 'upstream_error',
      message: 'upstream error (503): Service overloaded',
    });
    expect(h.fixtures.requests('retry-503')).toHaveLength(3);
    const [settle] = h.proxy.of('settle', job.requestId);
    expect(settle!.input).toMatchObject({
      status: 'errored',
      usage: { input: 0, output: 0 },
      usageEstimated: false,
    });
  });

  it('fails at once when Retry-After asks for longer than the first-token budget', async () => {
    const { events } = await runCustom('retry-long', {
      kind: 'json',
      status: 429,
      body: { error: { message: 'Slow down' } },
      headers: { 'retry-after': '3600' },
    });
    expect(terminalOf(events)).toMatchObject({
      type: 'error',
      code: 'upstream_error',
      message: 'upstream rate limit (429): Slow down',
    });
    expect(h.fixtures.requests('retry-long')).toHaveLength(1);
  });

  it('never retries a 4xx, and shows its message without URL, address or key', async () => {
    const { events } = await runCustom('bad-request', {
      kind: 'json',
      status: 400,
      body: {
        error: {
          message: 'Unknown model at http://10.1.2.3:8000/v1 for key sk-another-tenant-4242',
        },
      },
    });
    const error = terminalOf(events);
    expect(error).toMatchObject({ type: 'error', code: 'upstream_error' });
    if (error.type !== 'error') return;
    expect(error.message).toContain('Unknown model');
    expect(error.message).not.toMatch(/10\.1\.2\.3|http:|sk-another-tenant-4242/);
    expect(h.fixtures.requests('bad-request')).toHaveLength(1);
  });

  it('does not follow a redirect', async () => {
    const target = h.fixtures.scenario('redirect-target', {
      kind: 'sse',
      body: fixture('openai.sse'),
    });
    const { events } = await runCustom('redirect', {
      kind: 'redirect',
      location: `${target}/v1/chat/completions`,
    });
    expect(terminalOf(events)).toMatchObject({
      type: 'error',
      code: 'upstream_error',
      message: expect.stringContaining('redirect'),
    });
    expect(h.fixtures.requests('redirect-target')).toHaveLength(0);
  });
});

describe('timeouts', () => {
  it('times out a server that sends no first token', async () => {
    const { job, events } = await runCustom('silent', { kind: 'silent' });
    expect(terminalOf(events)).toEqual({
      type: 'error',
      code: 'upstream_timeout',
      message: 'the upstream sent no token within 1000 ms',
    });
    await h.fixtures.disconnected('silent');
    expect(h.proxy.of('settle', job.requestId)[0]!.input).toMatchObject({ status: 'errored' });
  });

  it('times out a stream that goes silent, settling the tokens received', async () => {
    const { job, events } = await runCustom('idle', {
      kind: 'sse',
      body: fixture('openai.sse'),
      holdAfter: 4,
      release: new Promise(() => {}),
    });
    expect(contentOf(events)).toBe('The capital of');
    expect(terminalOf(events)).toMatchObject({
      type: 'error',
      code: 'upstream_timeout',
      message: expect.stringContaining('silent'),
    });
    expect(h.proxy.of('settle', job.requestId)[0]!.input).toMatchObject({
      status: 'errored',
      usageEstimated: true,
      usage: { output: 3 },
    });
  });
});

describe('broken streams', () => {
  it.each([
    ['truncated JSON', 'truncated.sse', 'malformed or truncated'],
    ['no [DONE] and no finish reason', 'unfinished.sse', 'ended before the answer was complete'],
  ])('treats %s as an upstream error and settles what arrived', async (_label, file, message) => {
    const name = file.replace('.sse', '');
    const { job, events } = await runCustom(name, { kind: 'sse', body: fixture(file) });
    expect(terminalOf(events)).toMatchObject({
      type: 'error',
      code: 'upstream_error',
      message: expect.stringContaining(message),
    });
    expect(contentOf(events).length).toBeGreaterThan(0);
    const [settle] = h.proxy.of('settle', job.requestId);
    expect(settle!.input).toMatchObject({ status: 'errored', usageEstimated: true });
    expect((settle!.input.usage as { output: number }).output).toBeGreaterThan(0);
  });
});

describe('refusals: nothing is sent upstream and the hold is released', () => {
  it('refuses a custom endpoint job carrying a metered approval', async () => {
    const base = h.fixtures.scenario('mismatch', { kind: 'sse', body: fixture('openai.sse') });
    const job = await h.submit({
      route: h.customRoute(`${base}/v1`),
      modelId: 'mdl_mismatch',
      decision: { reason: 'balance' },
    });
    expect(terminalOf(await h.events(job.requestId))).toEqual({
      type: 'error',
      code: 'internal_error',
      message: 'the request does not match its authorization',
    });
    expect(h.fixtures.requests('mismatch')).toHaveLength(0);
    expect(h.proxy.of('void', job.requestId)).toHaveLength(1);
  });

  it('refuses a job that waited in the queue past its settle deadline', async () => {
    const base = h.fixtures.scenario('late', { kind: 'sse', body: fixture('openai.sse') });
    const job = await h.submit({
      route: h.customRoute(`${base}/v1`),
      modelId: 'mdl_late',
      decision: { settleBy: Date.now() - 1 },
    });
    expect(terminalOf(await h.events(job.requestId))).toEqual({
      type: 'error',
      code: 'upstream_timeout',
      message: 'the request waited in the queue until its credit hold ran out; send it again',
    });
    expect(h.fixtures.requests('late')).toHaveLength(0);
    expect(h.proxy.of('void', job.requestId)[0]!.input).toMatchObject({
      reason: 'worker: hold_timeout',
    });
  });

  it('refuses a platform job carrying a free approval', async () => {
    h.fixtures.scenario('openai', { kind: 'sse', body: fixture('openai.sse') });
    const job = await h.submit({
      route: h.platformRoute('openai', 'gpt-4o-mini'),
      modelId: 'gpt-4o-mini',
      forgedDecision: {
        requestId: 'x',
        decision: 'approved',
        reason: 'custom_endpoint',
        currency: null,
        hold: '0',
        maxOutputTokens: 100,
        outputClamped: false,
      },
    });
    expect(terminalOf(await h.events(job.requestId))).toMatchObject({
      type: 'error',
      code: 'internal_error',
    });
    expect(h.fixtures.requests('openai')).toHaveLength(0);
  });

  it.each([
    ['http://169.254.169.254/latest/v1', 'link_local_address'],
    ['http://10.0.0.1:8000/v1', 'private_address'],
    ['http://[::ffff:169.254.169.254]/v1', 'link_local_address'],
    ['http://[::1]:8000/v1', 'loopback_address'],
    ['file:///etc/passwd', 'scheme_not_allowed'],
  ])(
    'refuses the custom endpoint %s by %s, naming the rule and not the address',
    async (baseUrl, rule) => {
      const job = await h.submit({ route: h.customRoute(baseUrl), modelId: 'mdl_ssrf' });
      const error = terminalOf(await h.events(job.requestId));
      expect(error).toMatchObject({
        type: 'error',
        code: 'upstream_error',
        message: expect.stringContaining(rule),
      });
      if (error.type === 'error')
        expect(error.message).not.toMatch(/169\.254|10\.0\.0\.1|::1|ffff/);
      expect(h.proxy.of('void', job.requestId)).toHaveLength(1);
    },
  );
});
