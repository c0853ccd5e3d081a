import { readFileSync } from 'node:fs';
import path from 'node:path';
import { clientRequestId, parseAmount } from '@creditgate/contracts';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamReply } from '../support/fake-upstream.js';
import {
  envelope,
  OPENAI_SCENARIO,
  PLATFORM_KEYS,
  startStack,
  type Stack,
} from '../support/stack.js';

/**
 * The path a newcomer follows, through the real gateway, billing and inference worker: a user
 * made with the CLI streams from their own model server at zero balance, is refused a platform
 * model, gets credits with the CLI, and pays exactly the catalog price of what the model used.
 */
const CUSTOM_KEY = 'home-server-key-e2e-0d9f8e';

/** What the local server standing in for OpenAI reports for every platform request. */
const PLATFORM_USAGE = { prompt: 1234, cached: 1000, completion: 567 };

let stack: Stack;
let newcomer: { userId: string; apiKey: string };
let customModelId: string;

beforeAll(async () => {
  stack = await startStack();
  stack.upstream.scenario(
    OPENAI_SCENARIO,
    streamReply({ content: ['Bonjour', ' !'], usage: PLATFORM_USAGE }),
  );
});

afterAll(async () => {
  await stack?.close();
});

/** `usage.cost`: the credits the gateway reports as burned, OpenRouter-style. */
function reportedCost(completion: OpenAI.ChatCompletion): string {
  const cost = (completion.usage as { cost?: string } | undefined)?.cost;
  expect(cost).toMatch(/^\d+(\.\d+)?$/);
  return cost!;
}

/** A decimal amount of credits (USD) in billionths, computed here rather than by contracts. */
function nanos(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  return BigInt(whole) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
}

describe("a newcomer's first requests", () => {
  it('user:create on the CLI gives a user an API key and no credits', async () => {
    const created = await stack.cli(['user:create', '--name', 'Newcomer']);
    expect(created.code).toBe(0);
    newcomer = created.json as { userId: string; apiKey: string };
    expect(newcomer.userId).toMatch(/^usr_/);

    const { totals } = await stack.trpc(newcomer.apiKey).credits.balance.query();
    expect(parseAmount(totals.credit ?? '0')).toBe(0n);
  });

  it('streams a completion from their own custom endpoint at zero balance', async () => {
    const model = await stack.trpc(newcomer.apiKey).models.createCustom.mutate({
      name: 'home server',
      providerModelId: 'llama3.1:8b',
      baseUrl: stack.endpoint(
        'home',
        streamReply({ content: ['Hello', ' from', ' home'], usage: { prompt: 9, completion: 3 } }),
      ),
      apiKey: CUSTOM_KEY,
    });
    customModelId = model.id;

    const stream = await stack.openai(newcomer.apiKey).chat.completions.create(
      {
        model: model.id,
        messages: [{ role: 'user', content: 'Say hello' }],
        stream: true,
        stream_options: { include_usage: true },
      },
      { headers: { 'x-request-id': 'req_e2e_home' } },
    );
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage ??= chunk.usage ?? undefined;
    }
    expect(text).toBe('Hello from home');
    expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 3, cost: '0' });

    const [sent] = stack.upstream.requests('home');
    expect(sent?.headers.authorization).toBe(`Bearer ${CUSTOM_KEY}`);
    expect(sent?.body.model).toBe('llama3.1:8b');
  });

  it('refuses a platform model with 402 insufficient_credits and enqueues nothing', async () => {
    const requestId = 'req_e2e_refused';
    // The worker settles the previous request after answering it; let it finish first.
    await stack.jobFinished(clientRequestId(newcomer.apiKey, 'req_e2e_home'));
    const countsBefore = await stack.queue.getJobCounts();
    const error = await stack
      .openai(newcomer.apiKey)
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-request-id': requestId } },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_credits');

    expect(await stack.queue.getJobCounts()).toEqual(countsBefore);
    // The worker removes finished jobs, so counts alone could miss one that came and went:
    // BullMQ's event log records every job ever added.
    const queueLog = await stack.redis.xrange(stack.queue.keys.events!, '-', '+');
    expect(JSON.stringify(queueLog)).not.toContain(clientRequestId(newcomer.apiKey, requestId));
    expect(stack.upstream.requests(OPENAI_SCENARIO)).toEqual([]);
  });

  it('after grant:mint, the platform model answers and costs exactly the catalog price of its usage', async () => {
    const minted = await stack.cli(['grant:mint', '--user', newcomer.userId, '--amount', '1']);
    expect(minted.code).toBe(0);
    const trpc = stack.trpc(newcomer.apiKey);
    expect((await trpc.credits.balance.query()).totals.credit).toBe('1');

    const completion = await stack.openai(newcomer.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello in French' }],
    });
    expect(completion.choices[0]?.message.content).toBe('Bonjour !');
    expect(stack.upstream.requests(OPENAI_SCENARIO).at(-1)?.headers.authorization).toBe(
      `Bearer ${PLATFORM_KEYS.OPENAI_API_KEY}`,
    );
    expect(completion.usage).toMatchObject({
      prompt_tokens: PLATFORM_USAGE.prompt,
      completion_tokens: PLATFORM_USAGE.completion,
      prompt_tokens_details: { cached_tokens: PLATFORM_USAGE.cached },
    });

    // The catalog's USD prices per million tokens; cached prompt tokens are billed at their own rate.
    const catalog = JSON.parse(
      readFileSync(path.resolve(import.meta.dirname, '../../config/models.json'), 'utf8'),
    ) as { models: Array<{ id: string; prices: Record<string, string> }> };
    const prices = catalog.models.find((m) => m.id === 'gpt-4o-mini')!.prices;
    expect(prices).toMatchObject({ input: '0.15', cacheRead: '0.075', output: '0.60' });
    const perMillion = (tokens: number, price: string) => {
      const cost = BigInt(tokens) * nanos(price);
      expect(cost % 1_000_000n).toBe(0n); // these numbers need no rounding
      return cost / 1_000_000n;
    };
    const cost =
      perMillion(PLATFORM_USAGE.prompt - PLATFORM_USAGE.cached, prices.input!) +
      perMillion(PLATFORM_USAGE.cached, prices.cacheRead!) +
      perMillion(PLATFORM_USAGE.completion, prices.output!);

    expect(nanos(reportedCost(completion))).toBe(cost);
    // The worker settles right after answering: the balance shows the burn once it has.
    await stack.jobFinished(completion.id);
    const { totals } = await trpc.credits.balance.query();
    expect(nanos(totals.credit!)).toBe(nanos('1') - cost);
  });

  it("shows a charge's details to its owner only", async () => {
    const completion = await stack.openai(newcomer.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await stack.jobFinished(completion.id);
    const lookUp = (apiKey: string) =>
      fetch(`${stack.gateway.url}/v1/generation?id=${completion.id}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });

    const own = await lookUp(newcomer.apiKey);
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({
      data: {
        requestId: completion.id,
        status: 'settled',
        cost: reportedCost(completion),
        writtenOff: '0',
      },
    });
    const stranger = await stack.createUser('stranger');
    expect((await lookUp(stranger.apiKey)).status).toBe(404);
  });

  it('streams the platform model to a typed tRPC client through chat.stream', async () => {
    let text = '';
    const done = await new Promise<unknown>((resolve, reject) => {
      const subscription = stack.trpc(newcomer.apiKey).chat.stream.subscribe(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        {
          onData: ({ data: event }) => {
            if (event.type === 'chunk') text += event.chunk.choices?.[0]?.delta?.content ?? '';
            if (event.type === 'done' || event.type === 'error') {
              subscription.unsubscribe();
              resolve(event);
            }
          },
          onError: reject,
        },
      );
    });
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(text).toBe('Bonjour !');
  });

  it('lists the custom model in GET /v1/models and models.list without its apiKey', async () => {
    const response = await fetch(`${stack.gateway.url}/v1/models`, {
      headers: { authorization: `Bearer ${newcomer.apiKey}` },
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain(CUSTOM_KEY);
    expect((JSON.parse(text) as { data: Array<{ id: string }> }).data.map((m) => m.id)).toEqual(
      expect.arrayContaining(['gpt-4o-mini', customModelId]),
    );

    const list = await stack.trpc(newcomer.apiKey).models.list.query();
    expect(JSON.stringify(list)).not.toContain(CUSTOM_KEY);
    expect(list.find((m) => m.id === customModelId)).toMatchObject({ hasApiKey: true });
  });
});

describe('bad input', () => {
  let apiKey: string;
  beforeAll(async () => {
    ({ apiKey } = await stack.createUser('careless'));
  });

  const chat = (init: { authorization?: string; body: string }) =>
    fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(init.authorization && { authorization: init.authorization }),
      },
      body: init.body,
    });
  const hello = [{ role: 'user', content: 'hi' }];

  it.each([
    {
      name: 'an unknown model',
      request: () =>
        chat({
          authorization: `Bearer ${apiKey}`,
          body: JSON.stringify({ model: 'no-such-model', messages: hello }),
        }),
      status: 404,
      code: 'model_not_found',
    },
    {
      name: 'a malformed body',
      request: () =>
        chat({ authorization: `Bearer ${apiKey}`, body: '{"model": "gpt-4o-mini", "messages": [' }),
      status: 400,
      code: 'invalid_request_error',
    },
    {
      name: 'a missing key',
      request: () => chat({ body: JSON.stringify({ model: 'gpt-4o-mini', messages: hello }) }),
      status: 401,
      code: 'invalid_api_key',
    },
    {
      name: 'a wrong key',
      request: () =>
        chat({
          authorization: 'Bearer cg_not-a-key-of-anyone-at-all-000000',
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: hello }),
        }),
      status: 401,
      code: 'invalid_api_key',
    },
  ])(
    'answers $name with $status $code in the OpenAI envelope',
    async ({ request, status, code }) => {
      const response = await request();
      expect(response.status).toBe(status);
      expect((await envelope(response)).error).toMatchObject({ code, message: expect.any(String) });
    },
  );
});
