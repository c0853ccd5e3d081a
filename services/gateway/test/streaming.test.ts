import type { InferenceJob, StreamEvent } from '@creditgate/contracts';
import OpenAI from 'openai';
import type { ChatStreamEvent } from '../src/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkEvent, startStandInWorker } from './support/stand-in-worker.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * Relaying the worker's events to clients: OpenAI SSE, the aggregated non-stream answer, the
 * tRPC subscription, errors, disconnects and shutdown. A stand-in plays the worker's side of the
 * stream contract; each scenario is picked by the prompt.
 */
const usage = { input: 10, output: 5, cacheRead: 2, cacheWrite: 0, cacheWrite1h: 0, reasoning: 3 };
const never = new Promise<never>(() => {});

function script(job: InferenceJob): Array<StreamEvent | { pause: Promise<unknown> }> {
  const id = job.requestId;
  const end: StreamEvent = {
    type: 'end',
    finishReason: 'stop',
    usage,
    usageEstimated: false,
    cost: '0.0000123',
  };
  switch (job.params.messages[0]?.content) {
    case 'fail early':
      return [{ type: 'error', code: 'upstream_error', message: 'upstream answered 500' }];
    case 'fail late':
      return [
        chunkEvent(id, { role: 'assistant', content: 'partial' }),
        { type: 'error', code: 'upstream_error', message: 'upstream stream broke' },
      ];
    case 'hang':
      return [chunkEvent(id, { role: 'assistant', content: 'first' }), { pause: never }];
    case 'silent':
      return [{ pause: never }];
    case 'tools':
      return [
        chunkEvent(id, { role: 'assistant', reasoning_content: 'Think' }),
        chunkEvent(id, { reasoning_content: 'ing.' }),
        chunkEvent(id, {
          tool_calls: [
            {
              index: 0,
              id: 'call_a',
              type: 'function',
              function: { name: 'get_', arguments: '{"ci' },
            },
          ],
        }),
        chunkEvent(id, {
          tool_calls: [{ index: 1, id: 'call_b', function: { name: 'now', arguments: '{}' } }],
        }),
        chunkEvent(id, {
          tool_calls: [{ index: 0, function: { name: 'weather', arguments: 'ty":"Oslo"}' } }],
        }),
        chunkEvent(id, {}, 'tool_calls'),
        { ...end, finishReason: 'tool_calls' },
      ];
    default:
      return [
        chunkEvent(id, { role: 'assistant', content: '' }),
        chunkEvent(id, { content: 'Hello' }),
        chunkEvent(id, { content: ', world' }),
        chunkEvent(id, {}, 'stop'),
        end,
      ];
  }
}

let stack: Stack;
let worker: Awaited<ReturnType<typeof startStandInWorker>>;
let user: { userId: string; apiKey: string };
let modelId: string;

beforeAll(async () => {
  stack = await startStack({ CUSTOM_ENDPOINT_ALLOW: '127.0.0.1', STREAM_TIMEOUT_MS: '1000' });
  worker = await startStandInWorker({
    redisUrl: stack.env.REDIS_URL,
    prefix: stack.prefix,
    script,
  });
  user = await stack.createUser('streamer');
  const model = await stack.trpc(user.apiKey).models.createCustom.mutate({
    name: 'stand-in',
    providerModelId: 'local',
    baseUrl: 'http://127.0.0.1:9/v1',
  });
  modelId = model.id;
});

afterAll(async () => {
  await worker?.close();
  await stack?.close();
});

const ask = (content: string) => [{ role: 'user' as const, content }];

function post(body: object, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(`${stack.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${user.apiKey}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify(body),
    signal,
  });
}

describe('streamed completions (SSE)', () => {
  it('writes the worker chunks as-is, then the usage chunk and [DONE]', async () => {
    const response = await post(
      {
        model: modelId,
        messages: ask('hello'),
        stream: true,
        stream_options: { include_usage: true },
      },
      { 'x-request-id': 'req_sse_exact' },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-request-id')).toBe('req_sse_exact');

    const events = (await response.text()).split('\n\n').filter(Boolean);
    const expected = script(worker.jobs.at(-1)!).filter(
      (e): e is Extract<StreamEvent, { type: 'chunk' }> => 'type' in e && e.type === 'chunk',
    );
    expect(events.slice(0, expected.length)).toEqual(expected.map((e) => `data: ${e.data}`));
    expect(events.at(-1)).toBe('data: [DONE]');

    const usageChunk = JSON.parse(events.at(-2)!.slice('data: '.length));
    expect(usageChunk).toMatchObject({
      id: 'req_sse_exact',
      object: 'chat.completion.chunk',
      model: modelId,
      choices: [],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 8,
        total_tokens: 20,
        prompt_tokens_details: { cached_tokens: 2 },
        completion_tokens_details: { reasoning_tokens: 3 },
        cost: '0.0000123',
      },
    });
  });

  it('streams to the official openai client', async () => {
    const stream = await stack.openai(user.apiKey).chat.completions.create({
      model: modelId,
      messages: ask('hello'),
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello, world');
  });

  it('answers 502 upstream_error when the worker fails before the first token', async () => {
    const response = await post({ model: modelId, messages: ask('fail early'), stream: true });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'upstream_error', message: 'upstream answered 500' });
  });

  it('ends with an error event when the worker fails mid-stream', async () => {
    const response = await post({ model: modelId, messages: ask('fail late'), stream: true });
    expect(response.status).toBe(200);
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(JSON.parse(events.at(-1)!.slice(6))).toEqual({
      error: { message: 'upstream stream broke', type: 'upstream_error', code: 'upstream_error' },
    });
    expect(events).not.toContain('data: [DONE]');
  });

  it('cancels the request upstream when the client disconnects', async () => {
    const controller = new AbortController();
    const response = await post(
      { model: modelId, messages: ask('hang'), stream: true },
      { 'x-request-id': 'req_disconnect_1' },
      controller.signal,
    );
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await worker.cancelOf('req_disconnect_1');
    expect(worker.cancelled).toContain('req_disconnect_1');
  });

  it('times out a silent stream with 504 and cancels it', async () => {
    const response = await post(
      { model: modelId, messages: ask('silent') },
      { 'x-request-id': 'req_silent_1' },
    );
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'upstream_timeout',
    );
    await worker.cancelOf('req_silent_1');
  });
});

describe('output cap', () => {
  it('sends the cap billing clamped to the balance upstream and says so in a header', async () => {
    const payer = await stack.createUser('small balance');
    await stack.mint(payer.userId, '0.001');
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${payer.apiKey}`,
        'content-type': 'application/json',
        'x-request-id': 'req_clamped_1',
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: ask('hello') }),
    });
    expect(response.status).toBe(200);
    const header = Number(response.headers.get('x-creditgate-output-clamped'));
    expect(header).toBeGreaterThan(0);
    expect(header).toBeLessThan(16_384);
    const job = worker.jobs.find((j) => j.requestId === 'req_clamped_1')!;
    expect(job.params.max_tokens).toBe(header);
    expect(job.decision).toMatchObject({ outputClamped: true, reason: 'balance' });
    await response.json();
  });
});

describe('non-streamed completions', () => {
  it('aggregates content, usage and cost into one chat.completion', async () => {
    const completion = await stack.openai(user.apiKey).chat.completions.create({
      model: modelId,
      messages: ask('hello'),
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe(modelId);
    expect(completion.id).toMatch(/^req_/);
    expect(completion.choices[0]).toMatchObject({
      index: 0,
      finish_reason: 'stop',
      message: { role: 'assistant', content: 'Hello, world' },
    });
    expect(completion.usage).toMatchObject({
      prompt_tokens: 12,
      completion_tokens: 8,
      cost: '0.0000123',
    });
  });

  it('merges reasoning and tool calls by index', async () => {
    const response = await post({ model: modelId, messages: ask('tools') });
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

  it('answers 502 when the worker reports an error', async () => {
    const error = await stack
      .openai(user.apiKey)
      .chat.completions.create({ model: modelId, messages: ask('fail late') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  });
});

describe('chat.stream (tRPC subscription)', () => {
  /** Collects a subscription's events until its last one (`done` or `error`). */
  function subscribe(content: string) {
    const received: ChatStreamEvent[] = [];
    const ids: string[] = [];
    return new Promise<{ received: ChatStreamEvent[]; ids: string[] }>((resolve, reject) => {
      const subscription = stack.trpc(user.apiKey).chat.stream.subscribe(
        { model: modelId, messages: ask(content) },
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
    const { received, ids } = await subscribe('hello');
    expect(received[0]).toMatchObject({ type: 'start', model: modelId, outputClamped: false });
    const text = received
      .map((e) => (e.type === 'chunk' ? (e.chunk.choices?.[0]?.delta?.content ?? '') : ''))
      .join('');
    expect(text).toBe('Hello, world');
    expect(received.at(-1)).toMatchObject({
      type: 'done',
      finishReason: 'stop',
      usage: { prompt_tokens: 12, completion_tokens: 8, cost: '0.0000123' },
    });
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('ends with an error event (not a retried subscription) when the worker fails', async () => {
    const runs = () => worker.jobs.filter((j) => j.params.messages[0]?.content === 'fail early');
    const before = runs().length;
    const { received } = await subscribe('fail early');
    expect(received).toEqual([
      expect.objectContaining({ type: 'start' }),
      { type: 'error', error: { code: 'upstream_error', message: 'upstream answered 500' } },
    ]);
    expect(runs().length).toBe(before + 1);
  });

  it('refuses a re-subscription instead of running the request again', async () => {
    const error = await new Promise<unknown>((resolve) => {
      stack
        .trpc(user.apiKey)
        .chat.stream.subscribe(
          { model: modelId, messages: ask('hello'), lastEventId: 'req_x:3' },
          { onData: () => resolve(new Error('got data')), onError: resolve },
        );
    });
    expect((error as Error).message).toMatch(/not resumed/);
  });
});

describe('graceful shutdown', () => {
  it('lets open streams run until the grace period, then ends them with an error event', async () => {
    const response = await post(
      { model: modelId, messages: ask('hang'), stream: true },
      { 'x-request-id': 'req_shutdown_1' },
    );
    const reader = response.body!.getReader();
    await reader.read();

    const closing = stack.gateway.close(50);
    let rest = '';
    const decoder = new TextDecoder();
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      rest += decoder.decode(part.value);
    }
    expect(rest).toContain('"code":"service_unavailable"');
    await worker.cancelOf('req_shutdown_1');
    await closing;
  });
});
