import { EventEmitter } from 'node:events';
import { createLogger } from '@creditgate/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredHolds } from '../src/ledger/index.js';
import { centRequest, requestIdFor, startTestBilling, testClock } from './support/billing.js';

const TTL_SECONDS = 600;

describe('hold expiry', () => {
  const clock = testClock();
  let stack: Awaited<ReturnType<typeof startTestBilling>>;

  beforeAll(async () => {
    stack = await startTestBilling({ HOLD_TTL_SECONDS: String(TTL_SECONDS) }, { now: clock.now });
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** Authorizes a 0.01 hold for `userId` and lets the sweeper expire it. */
  async function expiredRequest(userId: string, requestId = requestIdFor()) {
    const request = centRequest(userId, requestId);
    await stack.client.authorize.mutate(request);
    clock.advance((TTL_SECONDS + 1) * 1000);
    await sweepExpiredHolds(stack.billing.ledger);
    return request;
  }
  const settle = (requestId: string, usage: { input: number; output: number }) =>
    stack.client.settle.mutate({ requestId, usage, status: 'complete' });

  it('releases a hold that outlived the TTL, and only then', async () => {
    const userId = 'usr_holds_sweep';
    await stack.client.mint.mutate({ userId, amount: '1' });
    const input = centRequest(userId);
    await stack.client.authorize.mutate(input);

    clock.advance((TTL_SECONDS - 1) * 1000);
    expect(await sweepExpiredHolds(stack.billing.ledger)).toBe(0);
    expect((await stack.client.balance.query({ userId })).held.credit).toBe('0.01');

    clock.advance(2000);
    expect(await sweepExpiredHolds(stack.billing.ledger)).toBe(1);
    expect((await stack.client.balance.query({ userId })).held.credit).toBe('0');
    expect(await stack.client.request.query({ requestId: input.requestId, userId })).toMatchObject({
      status: 'expired',
    });
    expect(await stack.client.void.mutate({ requestId: input.requestId, reason: 'late' })).toEqual({
      requestId: input.requestId,
      status: 'expired',
      released: '0',
    });
  });

  it('still burns the cost when an expired request settles late', async () => {
    const userId = 'usr_holds_late';
    await stack.client.mint.mutate({ userId, amount: '1' });
    const input = await expiredRequest(userId);

    const settled = await settle(input.requestId, { input: 3000, output: 1000 });
    expect(settled.cost).toBe('0.004');
    expect(await stack.client.balance.query({ userId })).toMatchObject({
      totals: { credit: '0.996' },
      held: { credit: '0' },
    });
    expect((await stack.client.verify.query()).ok).toBe(true);
  });

  it('never takes freed credits back from the request now holding them', async () => {
    const userId = 'usr_holds_late_spent';
    await stack.client.mint.mutate({ userId, amount: '0.01' });
    const late = await expiredRequest(userId);

    // The freed credits now back another request, and only 0.003 stays free after it settles.
    const next = centRequest(userId);
    expect((await stack.client.authorize.mutate(next)).decision).toBe('approved');
    await settle(next.requestId, { input: 5000, output: 2000 });

    const settled = await settle(late.requestId, { input: 3000, output: 1000 });
    expect(settled.cost).toBe('0.003');
    expect(await stack.client.balance.query({ userId })).toEqual({
      totals: { credit: '0' },
      held: { credit: '0' },
      available: { credit: '0' },
    });
    expect(await stack.client.request.query({ requestId: late.requestId, userId })).toMatchObject({
      status: 'settled',
      cost: '0.003',
      writtenOff: '0.001',
    });
    // A redelivered settle replays what was charged.
    expect(await settle(late.requestId, { input: 3000, output: 1000 })).toEqual(settled);
    expect((await stack.client.verify.query()).ok).toBe(true);

    const metrics = await stack.metrics();
    expect(metrics).toMatch(
      /billing_written_off_credits_total\{currency="credit",service="billing"\} 0\.001/,
    );
  });

  it('never burns a late settle from credits another open request holds', async () => {
    const userId = 'usr_holds_late_held';
    await stack.client.mint.mutate({ userId, amount: '0.01' });
    const late = await expiredRequest(userId);
    const open = centRequest(userId);
    await stack.client.authorize.mutate(open);

    expect((await settle(late.requestId, { input: 3000, output: 1000 })).cost).toBe('0');
    // The open request can still burn its whole hold.
    expect((await settle(open.requestId, { input: 5000, output: 5000 })).cost).toBe('0.01');
    expect((await stack.client.balance.query({ userId })).totals.credit).toBe('0');
    expect((await stack.client.verify.query()).ok).toBe(true);
  });

  describe('settles sharing one batch', () => {
    /** Settles in one settleMany call (one ledger batch); each item's answer or error. */
    async function settleTogether(items: { requestId: string; input: number }[]) {
      const outcomes = await stack.client.settleMany.mutate({
        items: items.map(({ requestId, input }) => ({
          requestId,
          usage: { input },
          status: 'complete' as const,
        })),
      });
      return outcomes.map((outcome) => (outcome.ok ? outcome.value.cost : outcome.error));
    }
    const balanceOf = async (userId: string) =>
      (await stack.client.balance.query({ userId })).totals.credit;
    /** Ids in a chosen order: the pool is drawn on in request id order. */
    const named = (userId: string, order: string) => centRequest(userId, requestIdFor(order));

    it('pay each request from its own hold before an overspend request is charged', async () => {
      const userId = 'usr_batch_own_first';
      await stack.client.mint.mutate({ userId, amount: '0.01' });
      await stack.client.capabilities.grant.mutate({ userId, capability: 'overspend' });
      const covered = named(userId, 'b');
      const overspent = named(userId, 'a');
      expect((await stack.client.authorize.mutate(covered)).reason).toBe('balance');
      expect((await stack.client.authorize.mutate(overspent)).reason).toBe('overspend');

      expect(
        await settleTogether([
          { requestId: covered.requestId, input: 5000 },
          { requestId: overspent.requestId, input: 30000 },
        ]),
      ).toEqual(['0.005', '0.03']);
      expect(await balanceOf(userId)).toBe('-0.025');
    });

    it('never let an unused overspend hold pay another request beyond the balance', async () => {
      const userId = 'usr_batch_overspend_hold';
      await stack.client.mint.mutate({ userId, amount: '0.01' });
      await stack.client.capabilities.grant.mutate({ userId, capability: 'overspend' });
      const over = named(userId, 'a');
      const overspent = named(userId, 'b');
      await stack.client.authorize.mutate(over);
      expect((await stack.client.authorize.mutate(overspent)).reason).toBe('overspend');

      expect(
        await settleTogether([
          { requestId: over.requestId, input: 15000 },
          { requestId: overspent.requestId, input: 0 },
        ]),
      ).toEqual(['0.01', '0']);
      expect(await balanceOf(userId)).toBe('0');
    });

    it('never let a request whose hold expired take another request’s released hold', async () => {
      const userId = 'usr_batch_expired';
      await stack.client.mint.mutate({ userId, amount: '0.02' });
      const expired = await expiredRequest(userId, requestIdFor('a'));
      const [first, second] = [named(userId, 'b'), named(userId, 'c')];
      await stack.client.authorize.mutate(first);
      await stack.client.authorize.mutate(second);

      // The expired request sorts first, and the first request's hold covers it exactly.
      expect(
        await settleTogether([
          { requestId: first.requestId, input: 10000 },
          { requestId: expired.requestId, input: 10000 },
        ]),
      ).toEqual(['0.01', '0']);
      expect(await settleTogether([{ requestId: second.requestId, input: 4000 }])).toEqual([
        '0.004',
      ]);
      expect(await balanceOf(userId)).toBe('0.006');
    });

    it('never take a balance overspend left below zero further down', async () => {
      const userId = 'usr_batch_negative';
      await stack.client.mint.mutate({ userId, amount: '0.01' });
      const expired = await expiredRequest(userId, requestIdFor('a'));
      const idle = named(userId, 'b');
      await stack.client.authorize.mutate(idle);
      await stack.client.capabilities.grant.mutate({ userId, capability: 'overspend' });
      const overspent = named(userId, 'c');
      await stack.client.authorize.mutate(overspent);
      await settleTogether([{ requestId: overspent.requestId, input: 100000 }]);
      await stack.client.capabilities.revoke.mutate({ userId, capability: 'overspend' });
      expect(await balanceOf(userId)).toBe('-0.09');

      expect(
        await settleTogether([
          { requestId: idle.requestId, input: 0 },
          { requestId: expired.requestId, input: 4000 },
        ]),
      ).toEqual(['0', '0']);
      expect(await balanceOf(userId)).toBe('-0.09');
      expect((await stack.client.verify.query()).ok).toBe(true);
    });
  });
});

describe('the sweeper timer', () => {
  const clock = testClock();
  const logs = new EventEmitter();
  let stack: Awaited<ReturnType<typeof startTestBilling>>;

  beforeAll(async () => {
    const destination = {
      write(line: string) {
        logs.emit('line', JSON.parse(line) as { msg: string; expired?: number });
      },
    };
    stack = await startTestBilling(
      { HOLD_TTL_SECONDS: String(TTL_SECONDS), HOLD_SWEEP_INTERVAL_MS: '20' },
      {
        now: clock.now,
        sweeper: true,
        logger: createLogger({ service: 'billing', level: 'info', pretty: false, destination }),
      },
    );
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('releases expired holds on its own', async () => {
    const userId = 'usr_holds_timer';
    await stack.client.mint.mutate({ userId, amount: '1' });
    await stack.client.authorize.mutate(centRequest(userId));

    const released = new Promise<number>((resolve) => {
      logs.on('line', (entry: { msg: string; expired?: number }) => {
        if (entry.msg === 'expired holds released') resolve(entry.expired!);
      });
    });
    clock.advance((TTL_SECONDS + 1) * 1000);

    expect(await released).toBe(1);
    expect((await stack.client.balance.query({ userId })).held.credit).toBe('0');
  });
});
