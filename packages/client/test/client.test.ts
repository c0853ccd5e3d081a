import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../../test/support/stack.js';
import { streamReply } from '../../../test/support/fake-upstream.js';
import { createClient, streamChat, type ChatStreamEvent } from '../src/index.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack?.close();
});

describe('@creditgate/client', () => {
  it('calls queries and mutations with the API key', async () => {
    const user = await stack.createUser('client user');
    const cg = createClient({ url: stack.gateway.url, apiKey: user.apiKey });

    expect((await cg.credits.balance.query()).totals).toEqual({});
    const model = await cg.models.createCustom.mutate({
      name: 'home',
      providerModelId: 'home-model',
      baseUrl: stack.endpoint('client-home', streamReply({ content: ['a', 'b'] })),
    });
    const listed = await cg.models.list.query();
    expect(listed.map((m: { id: string }) => m.id)).toContain(model.id);
  });

  it('streams a chat completion as start, chunks and done', async () => {
    const user = await stack.createUser('streamer');
    const cg = createClient({ url: stack.gateway.url, apiKey: user.apiKey });
    const model = await cg.models.createCustom.mutate({
      name: 'streamed',
      providerModelId: 'streamed-model',
      baseUrl: stack.endpoint('client-stream', streamReply({ content: ['Hel', 'lo'] })),
    });

    const events: ChatStreamEvent[] = [];
    for await (const event of streamChat(cg, {
      model: model.id,
      messages: [{ role: 'user', content: 'hi' }],
    })) {
      events.push(event);
    }

    expect(events[0]?.type).toBe('start');
    expect(events.at(-1)?.type).toBe('done');
    const text = events
      .filter((e): e is Extract<ChatStreamEvent, { type: 'chunk' }> => e.type === 'chunk')
      .map((e) => e.chunk.choices[0]?.delta?.content ?? '')
      .join('');
    expect(text).toBe('Hello');
  });

  it('refuses a wrong key with UNAUTHORIZED', async () => {
    const cg = createClient({ url: stack.gateway.url, apiKey: 'cg_not-a-real-key' });
    await expect(cg.credits.balance.query()).rejects.toMatchObject({
      data: { httpStatus: 401 },
    });
  });
});
