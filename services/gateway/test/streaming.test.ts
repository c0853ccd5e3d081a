import { once } from 'node:events';
import { connect } from 'node:net';
import {
  clientRequestId,
  decodeStreamEntry,
  redisKeys,
  type StreamEvent,
} from '@creditgate/contracts';
import OpenAI from 'openai';
import type { ChatStreamEvent } from '../src/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorReply, gate, streamReply, type Reply } from '../../../test/support/fake-upstream.js';
import { OPENAI_SCENARIO, startStack, type Stack } from '../../../test/support/stack.js';

/**
 * Relaying the worker's events to clients: OpenAI SSE, the aggregated non-stream answer, the
 * tRPC subscription, errors, disconnects and shutdown. The real worker runs every request
 * against a loopback upstream; each behaviour is a custom endpoint of its own there.
 */
const held = gate();
const drained = gate();

const scenarios = {
  hello: streamReply({
    content: ['Hello', ', world'],
    usage: { prompt: 12, completion: 8, cached: 2, reasoning: 3 },
  }),
  failEarly: errorReply(500, 'upstream answered 500'),
  failLate: streamReply({ content: ['partial'], errorMessage: 'upstream stream broke' }),
  /** The role chunk and a first token, then nothing until the file ends. */
  hang: streamReply({ content: ['first', ' second'] }, { after: 2, release: held.promise }),
  hangAtShutdown: streamReply(
    { content: ['first', ' second'] },
    { after: 2, release: held.promise },
  ),
  /** Held until a draining gateway has a request queued behind it on the same connection. */
  drainAhead: streamReply(
    { content: ['first', ' second'] },
    { after: 2, release: drained.promise },
  ),
  /** Headers, then not a single token. */
  silent: { kind: 'silent' } satisfies Reply,
  tools: streamReply({
    deltas: [
      { reasoning_content: 'Think' },
      { reasoning_content: 'ing.' },
      {
        tool_calls: [
          {
            index: 0,
            id: 'call_a',
            type: 'function',
            function: { name: 'get_', arguments: '{"ci' },
          },
        ],
      },
      { tool_calls: [{ index: 1, id: 'call_b', function: { name: 'now', arguments: '{}' } }] },
      { tool_calls: [{ index: 0, function: { name: 'weather', arguments: 'ty":"Oslo"}' } }] },
    ],
    finishReason: 'tool_calls',
  }),
};
type Scenario = keyof typeof scenarios;

let stack: Stack;
let user: { userId: string; apiKey: string };
const models = {} as Record<Scenario, string>;

beforeAll(async () => {
  // One attempt per request: a failing upstream fails at once instead of after backoffs.
  stack = await startStack({ env: { UPSTREAM_MAX_RETRIES: '0' } });
  user = await stack.createUser('streamer');
  const trpc = stack.trpc(user.apiKey);
  for (const [name, reply] of Object.entries(scenarios)) {
    const model = await trpc.models.createCustom.mutate({
      name,
      providerModelId: 'local',
      baseUrl: stack.endpoint(name, reply),
    });
    models[name as Scenario] = model.id;
  }
});

afterAll(async () => {
  held.open();
  await stack?.close();
});

const ask = (content: string) => [{ role: 'user' as const, content }];

function post(
  body: object,
  headers: Record<string, string> = {},
  options: { signal?: AbortSignal; gatewayUrl?: string } = {},
) {
  return fetch(`${options.gatewayUrl ?? stack.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${user.apiKey}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify(body),
    signal: options.signal,
  });
}

const isChunk = (e: StreamEvent): e is Extract<StreamEvent, { type: 'chunk' }> =>
  e.type === 'chunk';

async function generation(id: string) {
  const response = await fetch(`${stack.gateway.url}/v1/generation?id=${id}`, {
    headers: { authorization: `Bearer ${user.apiKey}` },
  });
  return ((await response.json()) as { data: Record<string, unknown> }).data;
}

describe('streamed completions (SSE)', () => {
  it('writes the worker chunks as-is, then the usage chunk and [DONE]', async () => {
    const requestId = clientRequestId(user.apiKey, 'req_sse_exact');
    // Read alongside the gateway: once it has relayed the end, the chunks leave Redis.
    const writing = stack.workerEvents(requestId);
    const response = await post(
      {
        model: models.hello,
        messages: ask('hello'),
        stream: true,
        stream_options: { include_usage: true },
      },
      { 'x-request-id': 'req_sse_exact' },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-request-id')).toBe(requestId);

    const events = (await response.text()).split('\n\n').filter(Boolean);
    const written = (await writing).filter(isChunk);
    expect(written.map((e) => JSON.parse(e.data).choices[0].delta.content).join('')).toBe(
      'Hello, world',
    );
    expect(events.slice(0, written.length)).toEqual(written.map((e) => `data: ${e.data}`));
    expect(events.slice(written.length).at(-1)).toBe('data: [DONE]');
    expect(events).toHaveLength(written.length + 2);

    const usageChunk = JSON.parse(events.at(-2)!.slice('data: '.length));
    expect(usageChunk).toMatchObject({
      id: requestId,
      object: 'chat.completion.chunk',
      model: models.hello,
      choices: [],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 8,
        total_tokens: 20,
        prompt_tokens_details: { cached_tokens: 2 },
        completion_tokens_details: { reasoning_tokens: 3 },
        // A custom endpoint costs the platform nothing.
        cost: '0',
      },
    });

    // Relayed: the completion text is gone from Redis; the end event stays for redelivery.
    // The gateway trims the stream once the answer has been written, so give it a moment.
    const left = async () =>
      (await stack.redis.xrange(redisKeys(stack.prefix).events(requestId), '-', '+')).flatMap(
        ([, fields]) => decodeStreamEntry(fields).map((event) => event.type),
      );
    await expect.poll(left).toEqual(['end']);
  });

  it('streams to the official openai client', async () => {
    const stream = await stack.openai(user.apiKey).chat.completions.create({
      model: models.hello,
      messages: ask('hello'),
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello, world');
  });

  it('answers 502 upstream_error when the upstream fails before the first token', async () => {
    const response = await post({ model: models.failEarly, messages: ask('x'), stream: true });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({
      code: 'upstream_error',
      message: expect.stringContaining('upstream answered 500'),
    });
  });

  it('ends with an error event when the upstream fails mid-stream', async () => {
    const response = await post({ model: models.failLate, messages: ask('x'), stream: true });
    expect(response.status).toBe(200);
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(events.some((e) => e.includes('"content":"partial"'))).toBe(true);
    expect(JSON.parse(events.at(-1)!.slice(6))).toEqual({
      error: { message: 'upstream stream broke', type: 'upstream_error', code: 'upstream_error' },
    });
    expect(events).not.toContain('data: [DONE]');
  });

  it('cancels the request upstream when the client disconnects, and settles it as aborted', async () => {
    const controller = new AbortController();
    const response = await post(
      { model: models.hang, messages: ask('x'), stream: true },
      { 'x-request-id': 'req_disconnect_1' },
      { signal: controller.signal },
    );
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();

    await stack.upstream.disconnected('hang');
    const requestId = clientRequestId(user.apiKey, 'req_disconnect_1');
    expect((await stack.workerEvents(requestId)).at(-1)).toMatchObject({
      type: 'end',
      finishReason: null,
    });
    await stack.jobFinished(requestId);
    expect(await generation(requestId)).toMatchObject({ settleStatus: 'aborted' });
  });

  it('times out a stream that sends nothing with 504, and cancels it upstream', async () => {
    const impatient = await stack.addGateway({ STREAM_TIMEOUT_MS: '500' });
    const response = await post(
      { model: models.silent, messages: ask('x') },
      { 'x-request-id': 'req_silent_1' },
      { gatewayUrl: impatient.url },
    );
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'upstream_timeout',
    );
    await stack.upstream.disconnected('silent');
  });
});

describe('output cap', () => {
  it('sends the cap billing clamped to the balance upstream and says so in a header', async () => {
    const payer = await stack.createUser('small balance');
    await stack.mint(payer.userId, '0.001');
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${payer.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: ask('hello') }),
    });
    expect(response.status).toBe(200);
    const header = Number(response.headers.get('x-creditgate-output-clamped'));
    expect(header).toBeGreaterThan(0);
    expect(header).toBeLessThan(16_384);
    await response.json();
    const sent = stack.upstream.requests(OPENAI_SCENARIO).at(-1)!;
    expect(sent.body.max_completion_tokens).toBe(header);
  });
});

describe('non-streamed completions', () => {
  it('aggregates content, usage and the billed cost into one chat.completion', async () => {
    const payer = await stack.createUser('payer');
    await stack.mint(payer.userId, '1');
    const completion = await stack.openai(payer.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: ask('hello'),
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-4o-mini');
    expect(completion.id).toMatch(/^req_/);
    expect(completion.choices[0]).toMatchObject({
      index: 0,
      finish_reason: 'stop',
      message: { role: 'assistant', content: 'Hello from upstream' },
    });
    expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 3 });

    // The worker settles right after answering; the charge is recorded once it is done.
    await stack.jobFinished(completion.id);
    const billed = await fetch(`${stack.gateway.url}/v1/generation?id=${completion.id}`, {
      headers: { authorization: `Bearer ${payer.apiKey}` },
    });
    const { data } = (await billed.json()) as { data: { cost: string } };
    expect(Number(data.cost)).toBeGreaterThan(0);
    expect((completion.usage as { cost?: string }).cost).toBe(data.cost);
  });

  it('merges reasoning and tool calls by index', async () => {
    const response = await post({ model: models.tools, messages: ask('x') });
    const completion = (await response.json()) as {
      choices: Array<{ message: Record<string, unknown>; finish_reason: string }>;
    };
    expect(completion.choices[0]).toEqual({
      index: 0,
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        reasoning_content: 'Thinking.',
        tool_calls: [
          {
            id: 'call_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
          },
          { id: 'call_b', type: 'function', function: { name: 'now', arguments: '{}' } },
        ],
      },
    });
  });

  it('answers 502 when the upstream fails mid-answer', async () => {
    const error = await stack
      .openai(user.apiKey)
      .chat.completions.create({ model: models.failLate, messages: ask('x') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  });
});

describe('chat.stream (tRPC subscription)', () => {
  /** Collects a subscription's events until its last one (`done` or `error`). */
  function subscribe(model: string) {
    const received: ChatStreamEvent[] = [];
    const ids: string[] = [];
    return new Promise<{ received: ChatStreamEvent[]; ids: string[] }>((resolve, reject) => {
      const subscription = stack.trpc(user.apiKey).chat.stream.subscribe(
        { model, messages: ask('x') },
        {
          onData: ({ id, data }) => {
            ids.push(id);
            received.push(data);
            if (data.type === 'done' || data.type === 'error') {
              subscription.unsubscribe();
              resolve({ received, ids });
            }
          },
          onError: reject,
        },
      );
    });
  }

  it('yields start, the chunks, then done with usage', async () => {
    const { received, ids } = await subscribe(models.hello);
    expect(received[0]).toMatchObject({
      type: 'start',
      model: models.hello,
      outputClamped: false,
    });
    const text = received
      .map((e) => (e.type === 'chunk' ? (e.chunk.choices?.[0]?.delta?.content ?? '') : ''))
      .join('');
    expect(text).toBe('Hello, world');
    expect(received.at(-1)).toMatchObject({
      type: 'done',
      finishReason: 'stop',
      usage: { prompt_tokens: 12, completion_tokens: 8, cost: '0' },
    });
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('ends with an error event (not a retried subscription) when the upstream fails', async () => {
    const before = stack.upstream.requests('failEarly').length;
    const { received } = await subscribe(models.failEarly);
    expect(received).toEqual([
      expect.objectContaining({ type: 'start' }),
      {
        type: 'error',
        error: {
          code: 'upstream_error',
          message: expect.stringContaining('upstream answered 500'),
        },
      },
    ]);
    expect(stack.upstream.requests('failEarly').length).toBe(before + 1);
  });

  it('refuses a re-subscription instead of running the request again', async () => {
    const error = await new Promise<unknown>((resolve) => {
      stack
        .trpc(user.apiKey)
        .chat.stream.subscribe(
          { model: models.hello, messages: ask('hello'), lastEventId: 'req_x:3' },
          { onData: () => resolve(new Error('got data')), onError: resolve },
        );
    });
    expect((error as Error).message).toMatch(/not resumed/);
  });
});

describe('graceful shutdown', () => {
  it('lets open streams run until the grace period, then ends them with an error event', async () => {
    const leaving = await stack.addGateway();
    const response = await post(
      { model: models.hangAtShutdown, messages: ask('x'), stream: true },
      {},
      { gatewayUrl: leaving.url },
    );
    const reader = response.body!.getReader();
    await reader.read();

    const closing = leaving.close(50);
    let rest = '';
    const decoder = new TextDecoder();
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      rest += decoder.decode(part.value);
    }
    expect(rest).toContain('"code":"service_unavailable"');
    await stack.upstream.disconnected('hangAtShutdown');
    await closing;
  });

  it('finishes a stream within the grace period and refuses a request sent on its connection with 503', async () => {
    const leaving = await stack.addGateway();
    const { hostname, port } = new URL(leaving.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('utf8').on('data', (data: string) => (received += data));

    const body = JSON.stringify({ model: models.drainAhead, messages: ask('x'), stream: true });
    const headers = `host: gateway\r\nauthorization: Bearer ${user.apiKey}\r\n`;
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\n${headers}content-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await stack.upstream.requested('drainAhead');

    // Once the listener is closed, a request on the still busy keep-alive connection is the
    // only way in: it must be refused, in the OpenAI envelope, after the stream it follows.
    const closing = leaving.close(30_000);
    await listenerClosed(Number(port), hostname);
    socket.write(`GET /v1/models HTTP/1.1\r\n${headers}\r\n`);
    drained.open();
    await once(socket, 'close');
    await closing;

    const [stream, refused] = received.split(/(?=HTTP\/1\.1 )/);
    expect(stream).toMatch(/^HTTP\/1\.1 200/);
    expect(stream).toContain('data: [DONE]');
    expect(refused).toMatch(/^HTTP\/1\.1 503/);
    expect(refused!.toLowerCase()).toContain('connection: close');
    expect(refused).toContain('"code":"service_unavailable"');
    expect(refused).toContain('the gateway is shutting down');
  });
});

/** Resolves once new connections to the port are refused (each probe is one connect attempt). */
async function listenerClosed(port: number, host: string) {
  for (;;) {
    const probe = connect(port, host);
    const refused = await new Promise<boolean>((resolve) => {
      probe.once('connect', () => resolve(false));
      probe.once('error', () => resolve(true));
    });
    probe.destroy();
    if (refused) return;
  }
}
