import { costOf, formatAmount, ZERO_USAGE, type Usage } from '@creditgate/contracts';
import { loadCatalog } from '@creditgate/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixture-server.js';
import {
  chunksOf,
  contentOf,
  PLATFORM_KEYS,
  startHarness,
  terminalOf,
  type Harness,
} from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const usage = (channels: Partial<Usage>): Usage => ({ ...ZERO_USAGE, ...channels });

/**
 * One transcript per self-hosted server family, each as its server really streams it, with
 * what the client must receive and what must be settled.
 */
const CUSTOM_FAMILIES = [
  {
    family: 'vLLM (reasoning parser, usage-only final chunk)',
    file: 'vllm.sse',
    text: '2 + 2 = 4',
    reasoning: 'The user wants two plus two.',
    finishReason: 'stop',
    // 22 completion tokens, the reasoning text counted out of them.
    usage: usage({ input: 16, output: 15, reasoning: 7 }),
    estimated: false,
  },
  {
    family: 'llama.cpp server (usage and timings on the finish chunk)',
    file: 'llamacpp.sse',
    text: 'Hello! How can I help?',
    finishReason: 'stop',
    usage: usage({ input: 25, output: 7 }),
    estimated: false,
  },
  {
    family: 'Ollama /v1 (reasoning field, usage-only chunk)',
    file: 'ollama.sse',
    text: 'Why is the sky blue?',
    reasoning: 'Short answer.',
    finishReason: 'stop',
    usage: usage({ input: 31, output: 6, reasoning: 3 }),
    estimated: false,
  },
  {
    family: 'LM Studio (no usage at all: counted and marked estimated)',
    file: 'lmstudio.sse',
    text: 'Sure, here is a haiku about rain.',
    finishReason: 'stop',
    usage: null,
    estimated: true,
  },
  {
    family: 'text-generation-inference (data: without space, eos_token finish reason)',
    file: 'tgi.sse',
    text: 'Deep learning is a subset',
    finishReason: 'stop',
    usage: usage({ input: 42, output: 6 }),
    estimated: false,
  },
  {
    family: 'LiteLLM proxy (finish reason on a content chunk, cached tokens)',
    file: 'litellm.sse',
    text: 'Bonjour tout le monde !',
    finishReason: 'stop',
    usage: usage({ input: 300, cacheRead: 1800, output: 9 }),
    estimated: false,
  },
  {
    family: 'keep-alives, CRLF, empty data, chunks without choices, no [DONE]',
    file: 'quirks.sse',
    text: 'ABC',
    finishReason: 'length',
    usage: null,
    estimated: true,
  },
];

describe('custom endpoints of every server family', () => {
  it.each(CUSTOM_FAMILIES)('$family', async (family) => {
    const name = family.file.replace('.sse', '');
    const base = h.fixtures.scenario(name, { kind: 'sse', body: fixture(family.file) });
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: `mdl_${name}` });

    const events = await h.events(job.requestId);
    const end = terminalOf(events);
    expect(end).toMatchObject({ type: 'end', finishReason: family.finishReason, cost: '0' });
    if (end.type !== 'end') return;
    expect(contentOf(events)).toBe(family.text);

    // Every chunk is the client's: its request id, its model name, the time it was accepted.
    for (const chunk of chunksOf(events)) {
      expect(chunk).toMatchObject({
        id: job.requestId,
        object: 'chat.completion.chunk',
        model: job.modelId,
        created: Math.floor(job.createdAt / 1000),
      });
      expect(chunk.usage).toBeUndefined();
    }
    if (family.reasoning) {
      const reasoning = chunksOf(events)
        .flatMap((c) => c.choices)
        .map((c) => (c.delta.reasoning_content ?? c.delta.reasoning ?? '') as string)
        .join('');
      expect(reasoning).toBe(family.reasoning);
    }

    expect(end.usageEstimated).toBe(family.estimated);
    if (family.usage) expect(end.usage).toEqual(family.usage);
    else expect(end.usage.output).toBeGreaterThan(0);

    const settles = h.proxy.of('settle', job.requestId);
    expect(settles).toHaveLength(1);
    expect(settles[0]!.input).toMatchObject({
      status: 'complete',
      usage: end.usage,
      usageEstimated: family.estimated,
    });

    const [request] = h.fixtures.requests(name);
    expect(request!.path).toBe('/v1/chat/completions');
    expect(request!.body).toMatchObject({
      model: 'served-model',
      stream: true,
      stream_options: { include_usage: true },
    });
  });
});

describe('platform providers', () => {
  const catalog = loadCatalog();
  const userId = 'usr_platform';
  beforeAll(async () => {
    await h.mint(userId, '10');
  });

  /** The end event's cost is what billing burned: the catalog price of the settled usage. */
  const priced = (modelId: string, settled: Usage) =>
    formatAmount(costOf(catalog.byId.get(modelId)!.prices, settled));

  it('openai: cached tokens on their own channel, the platform key, max_completion_tokens', async () => {
    h.fixtures.scenario('openai', { kind: 'sse', body: fixture('openai.sse') });
    const job = await h.submit({
      route: h.platformRoute('openai', 'gpt-4o-mini'),
      modelId: 'gpt-4o-mini',
      userId,
    });

    const events = await h.events(job.requestId);
    expect(contentOf(events)).toBe('The capital of France is Paris.');
    const end = terminalOf(events);
    const expected = usage({ input: 206, cacheRead: 1024, output: 7 });
    expect(end).toEqual({
      type: 'end',
      finishReason: 'stop',
      usage: expected,
      usageEstimated: false,
      cost: priced('gpt-4o-mini', expected),
    });

    const request = h.fixtures.requests('openai').at(-1)!;
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe(`Bearer ${PLATFORM_KEYS.OPENAI_API_KEY}`);
    expect(request.body).toMatchObject({
      model: 'gpt-4o-mini',
      max_completion_tokens: job.params.max_tokens,
    });
    expect(request.body).not.toHaveProperty('max_tokens');
  });

  it('openrouter: comments tolerated, reasoning passed through, usage.cost only recorded', async () => {
    h.fixtures.scenario('openrouter', { kind: 'sse', body: fixture('openrouter.sse') });
    const modelId = 'openrouter/llama-3.1-70b';
    const job = await h.submit({
      route: h.platformRoute('openrouter', 'meta-llama/llama-3.1-70b-instruct'),
      modelId,
      userId,
    });

    const events = await h.events(job.requestId);
    expect(contentOf(events)).toBe('2, 3, 5, 7');
    const first = chunksOf(events)[0]!;
    expect(first.choices[0]!.delta).toMatchObject({
      reasoning: 'Thinking about primes.',
      reasoning_details: [{ type: 'reasoning.summary', summary: 'Thinking about primes.' }],
    });
    // The usage chunk (an empty choice plus usage) is not forwarded.
    expect(chunksOf(events)).toHaveLength(4);

    const expected = usage({ input: 150, output: 34, reasoning: 256 });
    expect(terminalOf(events)).toEqual({
      type: 'end',
      finishReason: 'stop',
      usage: expected,
      usageEstimated: false,
      cost: priced(modelId, expected),
    });
    expect(
      h.logLines.some(
        (line) => line.includes(job.requestId) && line.includes('"upstreamCost":0.00133'),
      ),
    ).toBe(true);
    expect(h.fixtures.requests('openrouter').at(-1)!.headers.authorization).toBe(
      `Bearer ${PLATFORM_KEYS.OPENROUTER_API_KEY}`,
    );
  });

  it('anthropic: messages API with system prompt, thinking and cache channels, stop reason mapped', async () => {
    h.fixtures.scenario('anthropic', { kind: 'sse', body: fixture('anthropic.sse') });
    const job = await h.submit({
      route: h.platformRoute('anthropic', 'claude-sonnet-4-20250514'),
      modelId: 'claude-sonnet-4',
      userId,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
      ],
    });

    const events = await h.events(job.requestId);
    expect(contentOf(events)).toBe('Hello! How can I help?');
    const chunks = chunksOf(events);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(
      chunks
        .flatMap((c) => c.choices)
        .map((c) => c.delta.reasoning_content)
        .filter(Boolean),
    ).toEqual(['The user greets me.']);

    const expected = usage({
      input: 21,
      cacheRead: 3000,
      cacheWrite: 1500,
      output: 12,
      reasoning: 36,
    });
    expect(terminalOf(events)).toEqual({
      type: 'end',
      finishReason: 'stop',
      usage: expected,
      usageEstimated: false,
      cost: priced('claude-sonnet-4', expected),
    });

    const request = h.fixtures.requests('anthropic').at(-1)!;
    expect(request.path).toBe('/v1/messages');
    expect(request.headers['x-api-key']).toBe(PLATFORM_KEYS.ANTHROPIC_API_KEY);
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toMatchObject({
      model: 'claude-sonnet-4-20250514',
      system: 'You are terse.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
      max_tokens: job.params.max_tokens,
      stream: true,
    });
  });

  it("uses the user's own provider key when billing approved with byo_key", async () => {
    h.fixtures.scenario('openai', { kind: 'sse', body: fixture('openai.sse') });
    const byoKey = 'sk-user-own-openai-key-42';
    const job = await h.submit({
      route: h.platformRoute('openai', 'gpt-4o-mini', byoKey),
      modelId: 'gpt-4o-mini',
      userId: 'usr_byo_without_credit',
    });
    expect(job.decision.reason).toBe('byo_key');

    const end = terminalOf(await h.events(job.requestId));
    expect(end).toMatchObject({ type: 'end', cost: '0' });
    expect(h.fixtures.requests('openai').at(-1)!.headers.authorization).toBe(`Bearer ${byoKey}`);
  });
});
