import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FLAT,
  centRequest,
  errorOf,
  requestIdFor,
  startTestBilling,
  testClock,
} from './support/billing.js';

const clock = testClock();
let stack: Awaited<ReturnType<typeof startTestBilling>>;

beforeAll(async () => {
  stack = await startTestBilling({}, { now: clock.now });
});
afterAll(async () => {
  await stack?.close();
});

let users = 0;
/** A fresh user, minted `amounts` per currency. */
async function userWith(amounts: Record<string, string> = {}) {
  users += 1;
  const userId = `usr_auth_${users}`;
  for (const [currency, amount] of Object.entries(amounts)) {
    await stack.client.mint.mutate({ userId, amount, currency });
  }
  return userId;
}

describe('platform requests', () => {
  it('holds the ceiling, then burns the actual cost and releases the rest', async () => {
    const userId = await userWith({ credit: '1' });
    const input = centRequest(userId);

    const decision = await stack.client.authorize.mutate(input);
    expect(decision).toEqual({
      requestId: input.requestId,
      decision: 'approved',
      reason: 'balance',
      currency: 'credit',
      hold: '0.01',
      maxOutputTokens: 5000,
      outputClamped: false,
      replayed: false,
      // The prices settle burns at, so the worker can show the cost before settling.
      prices: FLAT,
      settleBy: expect.any(Number),
    });
    // A replay names the same deadline (from when the hold was placed, never later).
    const replayed = await stack.client.authorize.mutate(input);
    expect(replayed.settleBy! - decision.settleBy!).toBeGreaterThanOrEqual(0);
    expect(replayed.settleBy! - decision.settleBy!).toBeLessThan(1_000);
    expect(await stack.client.balance.query({ userId })).toEqual({
      totals: { credit: '1' },
      held: { credit: '0.01' },
      available: { credit: '0.99' },
    });

    const settled = await stack.client.settle.mutate({
      requestId: input.requestId,
      usage: { input: 1200, output: 300, cacheRead: 100 },
      status: 'complete',
    });
    expect(settled).toEqual({
      requestId: input.requestId,
      status: 'complete',
      cost: '0.0016',
      currency: 'credit',
    });
    expect(await stack.client.balance.query({ userId })).toEqual({
      totals: { credit: '0.9984' },
      held: { credit: '0' },
      available: { credit: '0.9984' },
    });

    const { entries } = await stack.client.history.query({ userId });
    expect(entries.map((entry) => [entry.kind, entry.amount])).toEqual([
      ['burn', '-0.0016'],
      ['release', '-0.01'],
      ['hold', '0.01'],
      ['mint', '1'],
    ]);
    const burn = entries[0]!;
    expect(burn.causeId).toBe(input.requestId);
    expect(burn.modelId).toBe('flat');
    expect(burn.usage).toMatchObject({ input: 1200, output: 300, cacheRead: 100 });
    expect(burn.pricingVersion).toMatch(/^[0-9a-f]{12}$/);
  });

  it('charges aborted and errored requests for the tokens the provider reported', async () => {
    const userId = await userWith({ credit: '1' });
    for (const status of ['aborted', 'errored'] as const) {
      const input = centRequest(userId);
      await stack.client.authorize.mutate(input);
      const settled = await stack.client.settle.mutate({
        requestId: input.requestId,
        usage: { input: 5000, output: 10 },
        status,
      });
      expect(settled.cost).toBe('0.00501');
    }
    expect((await stack.client.balance.query({ userId })).totals.credit).toBe('0.98998');
  });

  /** A user minted `credit` settles a request costing 0.014 against its 0.01 hold. */
  async function settleAboveHold(credit: string) {
    const userId = await userWith({ credit });
    const input = centRequest(userId);
    await stack.client.authorize.mutate(input);
    const settled = await stack.client.settle.mutate({
      requestId: input.requestId,
      usage: { input: 9000, output: 5000 },
      status: 'complete',
    });
    return { userId, requestId: input.requestId, settled };
  }

  it('burns a cost above the hold anyway and counts the overshoot', async () => {
    const { userId, settled } = await settleAboveHold('1');
    expect(settled.cost).toBe('0.014');
    expect(await stack.client.balance.query({ userId })).toMatchObject({
      totals: { credit: '0.986' },
      held: { credit: '0' },
    });

    const metrics = await stack.metrics();
    expect(metrics).toMatch(/billing_hold_overshoot_total\{model="flat",service="billing"\} 1/);
    expect(metrics).toMatch(/billing_credits_burned_total\{currency="credit",model="flat"/);
  });

  it('burns a cost above the hold only as far as the available balance goes', async () => {
    const { userId, requestId, settled } = await settleAboveHold('0.012');
    expect(settled.cost).toBe('0.012');
    expect(await stack.client.balance.query({ userId })).toEqual({
      totals: { credit: '0' },
      held: { credit: '0' },
      available: { credit: '0' },
    });
    expect(await stack.client.request.query({ requestId, userId })).toMatchObject({
      cost: '0.012',
      writtenOff: '0.002',
    });
    expect((await stack.client.verify.query()).ok).toBe(true);
  });

  it('refuses a model that is not in the catalog', async () => {
    const userId = await userWith({ credit: '1' });
    const error = await errorOf(
      stack.client.authorize.mutate({ ...centRequest(userId), modelId: 'no-such-model' }),
    );
    expect(error).toMatchObject({ code: 'NOT_FOUND', status: 404, appCode: 'model_not_found' });
  });

  it('answers not_found when settling a request that was never authorized', async () => {
    const error = await errorOf(
      stack.client.settle.mutate({ requestId: requestIdFor(), usage: {}, status: 'complete' }),
    );
    expect(error).toMatchObject({ code: 'NOT_FOUND', appCode: 'not_found' });
  });
});

describe('unmetered routes', () => {
  it('approves a custom endpoint for a user without credits and records its usage at zero cost', async () => {
    const userId = await userWith();
    const requestId = requestIdFor();
    const decision = await stack.client.authorize.mutate({
      requestId,
      userId,
      modelId: 'mdl_own_server',
      routeClass: 'custom_endpoint',
      promptTokens: 10_000,
      maxOutputTokens: null,
    });
    expect(decision).toEqual({
      requestId,
      decision: 'approved',
      reason: 'custom_endpoint',
      currency: null,
      hold: '0',
      maxOutputTokens: null,
      outputClamped: false,
      replayed: false,
    });

    const settled = await stack.client.settle.mutate({
      requestId,
      usage: { input: 10_000, output: 700 },
      status: 'complete',
    });
    expect(settled).toEqual({ requestId, status: 'complete', cost: '0', currency: null });
    expect(await stack.client.balance.query({ userId })).toEqual({
      totals: {},
      held: {},
      available: {},
    });

    const record = await stack.client.request.query({ requestId, userId });
    expect(record).toMatchObject({
      routeClass: 'custom_endpoint',
      status: 'settled',
      cost: '0',
      usage: { input: 10_000, output: 700 },
    });
    const usage = await stack.client.usage.query({ userId, from: '2000-01-01', to: '2100-01-01' });
    expect(usage.byModel).toEqual([
      expect.objectContaining({ modelId: 'mdl_own_server', requests: 1, cost: {} }),
    ]);
  });

  it('approves a platform model with the user’s own provider key without holding credits', async () => {
    const userId = await userWith();
    const decision = await stack.client.authorize.mutate({
      ...centRequest(userId),
      routeClass: 'platform_byo',
    });
    expect(decision).toMatchObject({ decision: 'approved', reason: 'byo_key', hold: '0' });
  });
});

describe('idempotency', () => {
  it('answers a repeated authorize with the stored decision and writes nothing', async () => {
    const userId = await userWith({ credit: '1' });
    const input = centRequest(userId);
    const first = await stack.client.authorize.mutate(input);
    const again = await stack.client.authorize.mutate(input);

    expect(first.replayed).toBe(false);
    expect(again).toEqual({ ...first, replayed: true });
    expect((await stack.client.balance.query({ userId })).held.credit).toBe('0.01');
    expect((await stack.client.history.query({ userId })).entries).toHaveLength(2);
  });

  it('refuses the same request id with other parameters', async () => {
    const userId = await userWith({ credit: '1' });
    const input = centRequest(userId);
    await stack.client.authorize.mutate(input);

    const error = await errorOf(stack.client.authorize.mutate({ ...input, maxOutputTokens: 4000 }));
    expect(error).toMatchObject({ code: 'CONFLICT', status: 409, appCode: 'idempotency_conflict' });
  });

  it('replays a denial even after the user got credits', async () => {
    const userId = await userWith();
    const input = centRequest(userId);
    const denied = await stack.client.authorize.mutate(input);
    expect(denied.decision).toBe('denied');

    await stack.client.mint.mutate({ userId, amount: '5' });
    expect(await stack.client.authorize.mutate(input)).toEqual({ ...denied, replayed: true });
  });

  it('burns once when a settle is repeated, and refuses different usage for it', async () => {
    const userId = await userWith({ credit: '1' });
    const input = centRequest(userId);
    await stack.client.authorize.mutate(input);
    const settle = {
      requestId: input.requestId,
      usage: { input: 100, output: 100 },
      status: 'complete' as const,
    };

    const first = await stack.client.settle.mutate(settle);
    const [second, third] = await Promise.all([
      stack.client.settle.mutate(settle),
      stack.client.settle.mutate(settle),
    ]);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect((await stack.client.balance.query({ userId })).totals.credit).toBe('0.9998');

    const error = await errorOf(
      stack.client.settle.mutate({ ...settle, usage: { input: 100, output: 101 } }),
    );
    expect(error).toMatchObject({ code: 'CONFLICT', appCode: 'idempotency_conflict' });
  });

  it('releases a voided hold once and refuses to settle it afterwards', async () => {
    const userId = await userWith({ credit: '1' });
    const input = centRequest(userId);
    await stack.client.authorize.mutate(input);

    const voided = await stack.client.void.mutate({
      requestId: input.requestId,
      reason: 'queue down',
    });
    expect(voided).toEqual({ requestId: input.requestId, status: 'voided', released: '0.01' });
    const again = await stack.client.void.mutate({
      requestId: input.requestId,
      reason: 'queue down',
    });
    expect(again).toEqual({ requestId: input.requestId, status: 'voided', released: '0' });
    expect((await stack.client.balance.query({ userId })).held.credit).toBe('0');

    const error = await errorOf(
      stack.client.settle.mutate({ requestId: input.requestId, usage: {}, status: 'complete' }),
    );
    expect(error).toMatchObject({ code: 'CONFLICT', appCode: 'idempotency_conflict' });
    expect((await stack.client.verify.query()).ok).toBe(true);
  });

  it('refuses to void a request that was already settled', async () => {
    const userId = await userWith({ credit: '1' });
    const input = centRequest(userId);
    await stack.client.authorize.mutate(input);
    await stack.client.settle.mutate({ requestId: input.requestId, usage: {}, status: 'complete' });

    const error = await errorOf(
      stack.client.void.mutate({ requestId: input.requestId, reason: 'late' }),
    );
    expect(error).toMatchObject({ code: 'CONFLICT', appCode: 'idempotency_conflict' });
  });
});

describe('overspend', () => {
  it('lets an active capability go below zero, and denies again once it is revoked', async () => {
    const userId = await userWith({ credit: '0.005' });
    await stack.client.capabilities.grant.mutate({ userId, capability: 'overspend' });

    const input = centRequest(userId);
    const decision = await stack.client.authorize.mutate(input);
    expect(decision).toMatchObject({ decision: 'approved', reason: 'overspend', hold: '0.01' });
    // Above the hold too: overspend burns the whole cost.
    await stack.client.settle.mutate({
      requestId: input.requestId,
      usage: { input: 9000, output: 5000 },
      status: 'complete',
    });
    expect((await stack.client.balance.query({ userId })).totals.credit).toBe('-0.009');

    await stack.client.capabilities.revoke.mutate({ userId, capability: 'overspend' });
    const after = await stack.client.authorize.mutate(centRequest(userId));
    expect(after).toMatchObject({ decision: 'denied', reason: 'insufficient_credits' });
  });

  it('stops at the grant’s expiry', async () => {
    const userId = await userWith();
    const expiresAt = new Date(clock.now().getTime() + 60 * 60_000).toISOString();
    await stack.client.capabilities.grant.mutate({ userId, capability: 'overspend', expiresAt });
    expect(
      await stack.client.capabilities.check.query({ userId, capability: 'overspend' }),
    ).toEqual({
      capability: 'overspend',
      active: true,
      expiresAt,
    });
    expect((await stack.client.authorize.mutate(centRequest(userId))).reason).toBe('overspend');

    clock.advance(2 * 60 * 60_000);
    expect(
      (await stack.client.capabilities.check.query({ userId, capability: 'overspend' })).active,
    ).toBe(false);
    expect((await stack.client.authorize.mutate(centRequest(userId))).decision).toBe('denied');
  });

  it('never funds a send', async () => {
    const userId = await userWith({ credit: '0.5' });
    await stack.client.capabilities.grant.mutate({ userId, capability: 'overspend' });

    const error = await errorOf(
      stack.client.send.mutate({
        fromUserId: userId,
        toUserId: 'usr_auth_recipient',
        amount: '0.6',
      }),
    );
    expect(error).toMatchObject({
      code: 'PAYMENT_REQUIRED',
      status: 402,
      appCode: 'insufficient_credits',
    });
  });
});

describe('currency order', () => {
  it('spends the model’s own currency before credit', async () => {
    const userId = await userWith({ 'claude-credit': '0.015', credit: '1' });
    const request = () => ({ ...centRequest(userId), modelId: 'claude-flat' });

    expect((await stack.client.authorize.mutate(request())).currency).toBe('claude-credit');
    // 0.005 claude-credit left: not enough for the next 0.01 ceiling, so credit pays.
    expect((await stack.client.authorize.mutate(request())).currency).toBe('credit');
    expect(await stack.client.balance.query({ userId })).toMatchObject({
      held: { 'claude-credit': '0.01', credit: '0.01' },
    });
  });

  it('never touches a currency the model does not accept', async () => {
    const userId = await userWith({ 'claude-credit': '5' });
    const decision = await stack.client.authorize.mutate(centRequest(userId));

    expect(decision).toMatchObject({ decision: 'denied', reason: 'insufficient_credits' });
    expect(await stack.client.balance.query({ userId })).toEqual({
      totals: { 'claude-credit': '5' },
      held: { 'claude-credit': '0' },
      available: { 'claude-credit': '5' },
    });
  });
});

describe('output cap', () => {
  // `pricey`: prompt tokens at most 4 credits/M (1h cache write = 2 x input), output 10/M.
  // 100 prompt tokens cost 0.0004; 0.001 credit leaves 0.0006, which buys 60 output tokens.
  const pricey = (userId: string, maxOutputTokens: number | null) => ({
    requestId: requestIdFor(),
    userId,
    modelId: 'pricey',
    routeClass: 'platform' as const,
    promptTokens: 100,
    maxOutputTokens,
  });

  it('clamps the output cap to what a small balance affords when the client gave none', async () => {
    const userId = await userWith({ credit: '0.001' });
    const decision = await stack.client.authorize.mutate(pricey(userId, null));
    expect(decision).toMatchObject({
      decision: 'approved',
      reason: 'balance',
      hold: '0.001',
      maxOutputTokens: 60,
      outputClamped: true,
    });
  });

  it('uses the model’s output limit when the balance covers it', async () => {
    const userId = await userWith({ credit: '10' });
    const decision = await stack.client.authorize.mutate(pricey(userId, null));
    expect(decision).toMatchObject({
      decision: 'approved',
      maxOutputTokens: 100_000,
      outputClamped: false,
    });
  });

  it('denies a client cap the balance cannot cover and says what it affords', async () => {
    const userId = await userWith({ credit: '0.001' });
    const decision = await stack.client.authorize.mutate(pricey(userId, 1000));
    expect(decision).toMatchObject({
      decision: 'denied',
      reason: 'insufficient_credits',
      affordableOutputTokens: 60,
      maxOutputTokens: null,
    });
  });

  it('denies when not even one output token is affordable', async () => {
    const userId = await userWith({ credit: '0.0004' });
    const decision = await stack.client.authorize.mutate(pricey(userId, null));
    expect(decision).toMatchObject({ decision: 'denied', affordableOutputTokens: 0 });
  });
});
