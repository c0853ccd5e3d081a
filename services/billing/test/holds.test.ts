import { EventEmitter } from 'node:events';
import { createLogger } from '@creditgate/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredHolds } from '../src/ledger/index.js';
import { centRequest, startTestBilling, testClock } from './support/billing.js';

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
    const input = centRequest(userId);
    await stack.client.authorize.mutate(input);
    clock.advance((TTL_SECONDS + 1) * 1000);
    await sweepExpiredHolds(stack.billing.ledger);

    const settled = await stack.client.settle.mutate({
      requestId: input.requestId,
      usage: { input: 3000, output: 1000 },
      status: 'complete',
    });
    expect(settled.cost).toBe('0.004');
    expect(await stack.client.balance.query({ userId })).toMatchObject({
      totals: { credit: '0.996' },
      held: { credit: '0' },
    });
    expect((await stack.client.verify.query()).ok).toBe(true);
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
