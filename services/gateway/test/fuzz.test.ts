import { AppError } from '@creditgate/contracts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/commands.js';
import { startStack, type Stack } from '../../../test/support/stack.js';

/**
 * Random input against every parser the public can reach: never a 500, never a crash, and
 * nothing written (no job, no model) for input that is refused.
 */
let stack: Stack;
let apiKey: string;
let admin: { userId: string; apiKey: string };

beforeAll(async () => {
  // No worker: nothing this file sends may reach the queue, and the queue is what it checks.
  stack = await startStack({
    worker: false,
    env: { RATE_LIMIT_PER_MINUTE: '100000' },
    resolve: async () => [],
  });
  ({ apiKey } = await stack.createUser('fuzzer'));
  admin = await stack.createUser('fuzzing admin');
  await stack.gateway.deps.billing.capabilities.grant.mutate({
    userId: admin.userId,
    capability: 'admin',
  });
});

afterAll(async () => {
  await stack?.close();
});

/** Numbers past every bound: 2^31, 2^53, BIGINT's limit, 10^15, and beyond. */
const hugeNumber = fc.oneof(
  fc.constantFrom(2 ** 31, 2 ** 53, 9_223_372_036_854_775_807, 1e15, 1e300, -1e15),
  fc.integer({ min: 100_000_000, max: Number.MAX_SAFE_INTEGER }),
);

/** Decimal amounts from tiny to far past what BIGINT holds, and text that is almost one. */
const amountLike = fc.oneof(
  fc
    .bigInt({ min: -(10n ** 30n), max: 10n ** 30n })
    .map((n) => `${n / 10n ** 9n}.${(n < 0n ? -n : n) % 10n ** 9n}`),
  fc.bigInt({ min: 0n, max: 10n ** 25n }).map(String),
  fc.constantFrom('9223372036.854775807', '9223372036854775808', '1e30', '0.0000000001'),
  fc.string({ maxLength: 40 }),
);

/** ISO-looking dates, valid and not, across and past the years databases hold. */
const dateLike = fc.oneof(
  fc
    .date({ min: new Date(-8_640_000_000_000_000), max: new Date(8_640_000_000_000_000) })
    .map((date) => (Number.isNaN(date.getTime()) ? 'NaN' : date.toISOString())),
  fc
    .tuple(
      fc.integer({ min: 0, max: 99_999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
    )
    .map(
      ([y, m, d]) =>
        `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`,
    ),
  fc.string({ maxLength: 30 }),
);

/** Arbitrary JSON, plus values shaped like the real inputs so validation goes deeper. */
const chatLike = fc.record(
  {
    model: fc.oneof(fc.constantFrom('gpt-4o-mini', 'mdl_x', ''), fc.string()),
    messages: fc.oneof(
      fc.array(
        fc.record({
          role: fc.constantFrom('user', 'system', 'tool', 'x'),
          content: fc.jsonValue(),
        }),
      ),
      fc.jsonValue(),
    ),
    stream: fc.oneof(fc.boolean(), fc.jsonValue()),
    max_tokens: fc.oneof(fc.integer(), fc.double(), fc.jsonValue(), hugeNumber),
    max_completion_tokens: fc.oneof(fc.integer(), hugeNumber),
    seed: fc.oneof(fc.integer(), hugeNumber),
    temperature: fc.oneof(fc.double(), fc.jsonValue()),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(fc.jsonValue(), chatLike);

async function send(path: string, payload: string) {
  const response = await fetch(`${stack.gateway.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: payload,
  });
  const text = await response.text();
  return { status: response.status, text };
}

describe('fuzzing the public parsers', () => {
  it('POST /v1/chat/completions answers every body with a 4xx envelope, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const { status, text } = await send('/v1/chat/completions', JSON.stringify(value));
        expect(status).toBeGreaterThanOrEqual(400);
        expect(status).toBeLessThan(500);
        expect(JSON.parse(text)).toMatchObject({ error: { code: expect.any(String) } });
      }),
      { numRuns: 150 },
    );
    expect(await stack.queue.getJobCounts('waiting', 'active', 'delayed')).toMatchObject({
      waiting: 0,
      active: 0,
      delayed: 0,
    });
  });

  it('tRPC mutations refuse random input without a 500 and write nothing', async () => {
    const paths = [
      'models.createCustom',
      'models.updateCustom',
      'models.deleteCustom',
      'keys.revoke',
      'providerKeys.set',
      'credits.send',
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.jsonValue(), async (path, value) => {
        const { status } = await send(`/trpc/${path}`, JSON.stringify(value));
        expect(status).toBeLessThan(500);
      }),
      { numRuns: 150 },
    );
    expect(await stack.gateway.deps.prisma.customModel.count()).toBe(0);
    expect(await stack.gateway.deps.prisma.providerKey.count()).toBe(0);
  });

  it('amounts, token counts, cursors and dates past every bound get a 4xx, never a 500', async () => {
    const query = (path: string, input: unknown) =>
      fetch(
        `${stack.gateway.url}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`,
        { headers: { authorization: `Bearer ${apiKey}` } },
      );
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          amount: amountLike,
          limit: fc.oneof(fc.integer(), hugeNumber),
          cursor: fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String), fc.string()),
          from: dateLike,
          to: dateLike,
          id: fc.string({ maxLength: 200 }),
        }),
        async ({ amount, limit, cursor, from, to, id }) => {
          const responses = await Promise.all([
            send('/trpc/credits.send', JSON.stringify({ toUserId: 'usr_nobody', amount })),
            fetch(`${stack.gateway.url}/trpc/admin.mint`, {
              method: 'POST',
              headers: { authorization: `Bearer ${admin.apiKey}` },
              body: JSON.stringify({ userId: admin.userId, amount }),
            }),
            query('credits.history', { limit, cursor }),
            query('credits.usage', { from, to }),
            query('credits.request', { id }),
            fetch(`${stack.gateway.url}/v1/generation?id=${encodeURIComponent(id)}`, {
              headers: { authorization: `Bearer ${apiKey}` },
            }),
          ]);
          for (const response of responses) expect(response.status).toBeLessThan(500);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('CLI option parsers refuse random arguments with a usage error only', () => {
    const argv = fc.array(
      fc.oneof(fc.string(), fc.constantFrom('--user', '--amount', '--name', '--currency', '--')),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(COMMANDS)), argv, (name, args) => {
        try {
          COMMANDS[name]!.parse(args);
        } catch (error) {
          expect(error).toBeInstanceOf(AppError);
          expect((error as AppError).code).toBe('invalid_request_error');
        }
      }),
      { numRuns: 500 },
    );
  });
});
