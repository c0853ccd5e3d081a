import { describe, expect, it } from 'vitest';
import { readMessagesStream } from '../src/routes/anthropic.js';
import { readChatStream } from '../src/routes/openai-compatible.js';
import type { UpstreamItem } from '../src/routes/types.js';
import { readSse } from '../src/streaming/sse.js';
import { fromOpenAiUsage, resolveUsage } from '../src/streaming/usage.js';
import { fixture } from './support/fixture-server.js';

/** A body delivered in pieces of `size` bytes, so events straddle reads. */
function body(text: string, size = 7): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function text(items: UpstreamItem[]): string {
  return items
    .flatMap((item) =>
      item.type === 'chunk' ? (item.chunk.choices as Array<{ delta: { content?: string } }>) : [],
    )
    .map((choice) => choice.delta.content ?? '')
    .join('');
}

describe('readSse', () => {
  it('skips comments, accepts CRLF and data without a space, and splits on blank lines', async () => {
    const events = await collect(
      readSse(body(': hi\r\n\r\ndata:one\r\n\r\nevent: x\ndata: two\ndata: three\n\n')),
    );
    expect(events).toEqual([
      { event: null, data: 'one', terminated: true },
      { event: 'x', data: 'two\nthree', terminated: true },
    ]);
  });

  it('hands over a last event that lacks its blank line, marked unterminated', async () => {
    const events = await collect(readSse(body('data: a\n\ndata: {"b":1}')));
    expect(events.at(-1)).toEqual({ event: null, data: '{"b":1}', terminated: false });
  });

  it('decodes multi-byte characters split across reads', async () => {
    const events = await collect(readSse(body('data: héllo wörld ✓\n\n', 1)));
    expect(events[0]!.data).toBe('héllo wörld ✓');
  });
});

describe('readChatStream', () => {
  it('tolerates keep-alives, empty data, chunks without choices and unknown fields', async () => {
    const items = await collect(readChatStream(body(fixture('quirks.sse'))));
    expect(text(items)).toBe('ABC');
    expect(items.at(-1)).toEqual({ type: 'done' });
    const first = items.find((item) => item.type === 'chunk')!;
    expect((first as { chunk: Record<string, unknown> }).chunk.x_vendor).toEqual({ queue: 3 });
  });

  it('rejects truncated JSON as a broken stream', async () => {
    await expect(collect(readChatStream(body(fixture('truncated.sse'))))).rejects.toThrow(
      /malformed or truncated/,
    );
  });

  it('rejects a stream that ends with neither [DONE] nor a finish reason', async () => {
    await expect(collect(readChatStream(body(fixture('unfinished.sse'))))).rejects.toThrow(
      /ended before the answer was complete/,
    );
  });

  it('turns an error object inside the stream into an upstream error', async () => {
    const stream = 'data: {"error":{"message":"model overloaded","code":503}}\n\n';
    await expect(collect(readChatStream(body(stream)))).rejects.toThrow('model overloaded');
  });
});

describe('readMessagesStream', () => {
  it('translates text and thinking deltas, the stop reason and cumulative usage', async () => {
    const items = await collect(readMessagesStream(body(fixture('anthropic.sse'))));
    expect(text(items)).toBe('Hello! How can I help?');
    const reasoning = items
      .flatMap((item) =>
        item.type === 'chunk'
          ? (item.chunk.choices as Array<{ delta: { reasoning_content?: string } }>)
          : [],
      )
      .map((choice) => choice.delta.reasoning_content ?? '')
      .join('');
    expect(reasoning).toBe('The user greets me.');
    const finishes = items.flatMap((item) =>
      item.type === 'chunk'
        ? (item.chunk.choices as Array<{ finish_reason: string | null }>).map(
            (c) => c.finish_reason,
          )
        : [],
    );
    expect(finishes.filter(Boolean)).toEqual(['stop']);
    const usage = items.filter((item) => item.type === 'usage').at(-1);
    expect(usage).toMatchObject({
      type: 'usage',
      usage: {
        usage: {
          input: 21,
          cacheRead: 3000,
          cacheWrite: 1500,
          cacheWrite1h: 0,
          output: 12,
          reasoning: 36,
        },
        reasoningReported: true,
      },
    });
  });

  it('treats an error event as an upstream error and a cut stream as broken', async () => {
    const error =
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';
    await expect(collect(readMessagesStream(body(error)))).rejects.toThrow('Overloaded');
    const cut = fixture('anthropic.sse').split('event: message_delta')[0]!;
    await expect(collect(readMessagesStream(body(cut)))).rejects.toThrow(/ended before/);
  });
});

describe('usage', () => {
  it('splits prompt and completion into disjoint channels', () => {
    const reported = fromOpenAiUsage({
      prompt_tokens: 1000,
      completion_tokens: 300,
      prompt_tokens_details: { cached_tokens: 600, cache_write_tokens: 100 },
      completion_tokens_details: { reasoning_tokens: 200 },
      cost: 0.0042,
    });
    expect(reported).toEqual({
      usage: {
        input: 300,
        output: 100,
        cacheRead: 600,
        cacheWrite: 100,
        cacheWrite1h: 0,
        reasoning: 200,
      },
      reasoningReported: true,
      upstreamCost: 0.0042,
    });
  });

  it('reads DeepSeek cache hits and ignores usage: null', () => {
    expect(fromOpenAiUsage(null)).toBeNull();
    expect(
      fromOpenAiUsage({ prompt_tokens: 50, completion_tokens: 5, prompt_cache_hit_tokens: 40 })
        ?.usage,
    ).toMatchObject({
      input: 10,
      cacheRead: 40,
      output: 5,
    });
  });

  it('moves counted reasoning text out of an output total that did not split it', async () => {
    const { usage, estimated } = await resolveUsage({
      reported: fromOpenAiUsage({ prompt_tokens: 10, completion_tokens: 20 }),
      accepted: true,
      content: 'four',
      reasoning: 'Short answer.',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(estimated).toBe(false);
    expect(usage.reasoning).toBe(3);
    expect(usage.output).toBe(17);
  });

  it('counts with the tokenizer and marks estimated when nothing was reported', async () => {
    const { usage, estimated } = await resolveUsage({
      reported: null,
      accepted: true,
      content: 'Hello world',
      reasoning: '',
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    expect(estimated).toBe(true);
    expect(usage.output).toBe(2);
    expect(usage.input).toBeGreaterThan(3);
  });

  it('bills nothing when the upstream never accepted the request', async () => {
    const result = await resolveUsage({
      reported: null,
      accepted: false,
      content: '',
      reasoning: '',
      messages: [],
    });
    expect(result).toEqual({
      usage: expect.objectContaining({ input: 0, output: 0 }),
      estimated: false,
      clamped: [],
    });
  });
});
