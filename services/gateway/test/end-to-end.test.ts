import { costOf, formatAmount, parseAmount } from '@creditgate/contracts';
import { inferenceEnvSchema, startInference } from '@creditgate/inference';
import { loadCatalog } from '@creditgate/runtime';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream } from '../../../test/support/fake-upstream.js';
import { SERVICE_TOKEN, startStack, type Stack } from './support/stack.js';

/**
 * The whole request path with the real inference worker: gateway -> billing -> queue -> worker
 * -> a local OpenAI-compatible server -> back to the client, for a custom endpoint and for a
 * platform model billed from the balance.
 */
const CUSTOM_KEY = 'sk-e2e-custom-endpoint-key-0d9f8e';
const PLATFORM_KEY = 'sk-e2e-platform-key-4c3b2a';

let stack: Stack;
let upstream: Awaited<ReturnType<typeof startFakeUpstream>>;
let worker: Awaited<ReturnType<typeof startInference>>;

beforeAll(async () => {
  upstream = await startFakeUpstream({ usage: { prompt_tokens: 12, completion_tokens: 3 } });
  stack = await startStack({ CUSTOM_ENDPOINT_ALLOW: '127.0.0.1' });
  worker = await startInference(
    inferenceEnvSchema.parse({
      INFERENCE_PORT: '0',
      INFERENCE_HOST: '127.0.0.1',
      REDIS_URL: stack.env.REDIS_URL,
      QUEUE_PREFIX: stack.prefix,
      BILLING_URL: stack.billing.url,
      SERVICE_TOKEN,
      ENCRYPTION_KEY: stack.env.ENCRYPTION_KEY,
      OPENAI_API_KEY: PLATFORM_KEY,
      OPENAI_BASE_URL: upstream.url,
      CUSTOM_ENDPOINT_ALLOW: '127.0.0.1',
      LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
    }),
  );
});

afterAll(async () => {
  await worker?.close();
  await stack?.close();
  await upstream?.close();
});

describe('a completion end to end', () => {
  it('streams a zero-balance user a completion from their own custom endpoint', async () => {
    const user = await stack.createUser('self-hoster');
    const model = await stack.trpc(user.apiKey).models.createCustom.mutate({
      name: 'home server',
      providerModelId: 'llama3',
      baseUrl: upstream.url,
      apiKey: CUSTOM_KEY,
    });

    const stream = await stack.openai(user.apiKey).chat.completions.create({
      model: model.id,
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage ??= chunk.usage ?? undefined;
    }
    expect(text).toBe('Hello from upstream');
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 3, cost: '0' });
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${CUSTOM_KEY}`);
    expect(await stack.dumpRedis()).not.toContain(CUSTOM_KEY);
  });

  it('bills a platform model by the catalog price of the reported usage', async () => {
    const user = await stack.createUser('payer');
    const openai = stack.openai(user.apiKey);
    const refused = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(402);

    await stack.mint(user.userId, '1');
    const completion = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 100,
    });
    expect(completion.choices[0]?.message.content).toBe('Hello from upstream');
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${PLATFORM_KEY}`);

    const prices = loadCatalog().byId.get('gpt-4o-mini')!.prices;
    const cost = costOf(prices, {
      input: 12,
      output: 3,
      cacheRead: 0,
      cacheWrite: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    expect((completion.usage as { cost?: string }).cost).toBe(formatAmount(cost));
    const balance = await stack.trpc(user.apiKey).credits.balance.query();
    expect(balance.totals.credit).toBe(formatAmount(parseAmount('1') - cost));

    // The completion id is the request id: its owner can look the charge up, nobody else.
    const generation = await fetch(`${stack.gateway.url}/v1/generation?id=${completion.id}`, {
      headers: { authorization: `Bearer ${user.apiKey}` },
    });
    expect(generation.status).toBe(200);
    expect(await generation.json()).toMatchObject({
      data: { requestId: completion.id, status: 'settled', cost: formatAmount(cost) },
    });
    const stranger = await stack.createUser('stranger');
    const hidden = await fetch(`${stack.gateway.url}/v1/generation?id=${completion.id}`, {
      headers: { authorization: `Bearer ${stranger.apiKey}` },
    });
    expect(hidden.status).toBe(404);
  });

  it('streams to a tRPC client through chat.stream', async () => {
    const user = await stack.createUser('trpc');
    await stack.mint(user.userId, '1');
    let text = '';
    await new Promise<void>((resolve, reject) => {
      const subscription = stack.trpc(user.apiKey).chat.stream.subscribe(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        {
          onData: ({ data: event }) => {
            if (event.type === 'chunk') text += event.chunk.choices?.[0]?.delta?.content ?? '';
            if (event.type === 'done') {
              subscription.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        },
      );
    });
    expect(text).toBe('Hello from upstream');
  });
});
