import { formatAmount, MAX_AMOUNT, MAX_TOKENS } from '@creditgate/contracts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centRequest, errorOf, startTestBilling } from './support/billing.js';

/**
 * Every number a caller can send that reaches SQL or BigInt arithmetic has a bound: past it the
 * answer is a 400 naming the field, never a 500 from Postgres, and nothing is written.
 */
let stack: Awaited<ReturnType<typeof startTestBilling>>;

beforeAll(async () => {
  stack = await startTestBilling();
});
afterAll(async () => {
  await stack?.close();
});

const badRequest = { code: 'BAD_REQUEST', status: 400, appCode: 'invalid_request_error' };
const max = formatAmount(MAX_AMOUNT);

describe('amounts', () => {
  it('refuses a mint, send or tally above the largest amount, writing nothing', async () => {
    const userId = 'usr_b_huge';
    for (const amount of [`${max}.000000001`, '9223372036.854775808', '9999999999999999999']) {
      await expect(errorOf(stack.client.mint.mutate({ userId, amount }))).resolves.toMatchObject(
        badRequest,
      );
      await expect(
        errorOf(stack.client.tally.mutate({ userId, amount: `-${amount}`, reason: 'fix' })),
      ).resolves.toMatchObject(badRequest);
      await expect(
        errorOf(stack.client.send.mutate({ fromUserId: userId, toUserId: 'usr_b_x', amount })),
      ).resolves.toMatchObject(badRequest);
    }
    expect((await stack.client.balance.query({ userId })).totals).toEqual({});
    expect((await stack.client.history.query({ userId })).entries).toEqual([]);
  });

  it('refuses a mint that would take a balance past the largest amount, with no entry', async () => {
    const userId = 'usr_b_full';
    await stack.client.mint.mutate({ userId, amount: max });
    for (let i = 0; i < 3; i++) {
      const error = await errorOf(stack.client.mint.mutate({ userId, amount: max }));
      expect(error).toMatchObject(badRequest);
      expect(error.message).toMatch(/range/);
    }
    expect((await stack.client.balance.query({ userId })).totals).toEqual({ credit: max });
    expect((await stack.client.history.query({ userId })).entries).toHaveLength(1);

    // Nor can a transfer fill it past the bound.
    await stack.client.mint.mutate({ userId: 'usr_b_giver', amount: '1' });
    await expect(
      errorOf(
        stack.client.send.mutate({ fromUserId: 'usr_b_giver', toUserId: userId, amount: '1' }),
      ),
    ).resolves.toMatchObject(badRequest);
    expect((await stack.client.balance.query({ userId: 'usr_b_giver' })).totals.credit).toBe('1');
  });

  it('refuses a negative tally that would take a balance past the negative bound', async () => {
    const userId = 'usr_b_debt';
    await stack.client.tally.mutate({ userId, amount: `-${max}`, reason: 'charge' });
    await expect(
      errorOf(stack.client.tally.mutate({ userId, amount: '-1', reason: 'charge' })),
    ).resolves.toMatchObject(badRequest);
    expect((await stack.client.balance.query({ userId })).totals).toEqual({ credit: `-${max}` });
  });
});

describe('token counts, cursors and dates', () => {
  it('refuses token counts above the bound at authorize and settle', async () => {
    const request = centRequest('usr_b_tokens');
    for (const field of ['promptTokens', 'maxOutputTokens'] as const) {
      await expect(
        errorOf(stack.client.authorize.mutate({ ...request, [field]: MAX_TOKENS + 1 })),
      ).resolves.toMatchObject(badRequest);
    }
    await stack.client.authorize.mutate(request);
    await expect(
      errorOf(
        stack.client.settle.mutate({
          requestId: request.requestId,
          usage: { output: 1e15 },
          status: 'complete',
        }),
      ),
    ).resolves.toMatchObject(badRequest);
  });

  it('refuses a history cursor past BIGINT and dates no database holds', async () => {
    const userId = 'usr_b_dates';
    for (const cursor of ['9999999999999999999', 'zzzz', '1e3', '-1']) {
      const error = await errorOf(stack.client.history.query({ userId, cursor }));
      expect(error).toMatchObject(badRequest);
      expect(error.message).toMatch(/is not a cursor from a previous page/);
      expect(error.message).not.toMatch(/BigInt/);
    }
    for (const [from, to] of [
      ['0000-01-01', '2030-01-01'],
      ['2024-02-30', '2030-01-01'],
      ['2024-01-01T00:00:00+23:59', '2024-13-01'],
    ]) {
      await expect(
        errorOf(stack.client.usage.query({ userId, from: from!, to: to! })),
      ).resolves.toMatchObject(badRequest);
    }
    await expect(
      errorOf(
        stack.client.capabilities.grant.mutate({
          userId,
          capability: 'overspend',
          expiresAt: '0000-01-01T00:00:00Z',
        }),
      ),
    ).resolves.toMatchObject(badRequest);
  });

  it('answers any mint amount with a result or a 400, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => formatAmount(n)),
          fc.string({ maxLength: 30 }),
        ),
        async (amount) => {
          const error = await errorOf(
            stack.client.mint.mutate({ userId: 'usr_b_fuzz', amount }),
          ).catch(() => null);
          if (error) expect(error.status).toBeLessThan(500);
        },
      ),
      { numRuns: 100 },
    );
  });
});
