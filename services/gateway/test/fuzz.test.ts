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

beforeAll(async () => {
  // No worker: nothing this file sends may reach the queue, and the queue is what it checks.
  stack = await startStack({
    worker: false,
    env: { RATE_LIMIT_PER_MINUTE: '100000' },
    resolve: async () => [],
  });
  ({ apiKey } = await stack.createUser('fuzzer'));
});

afterAll(async () => {
  await stack?.close();
});

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
    max_tokens: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
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
