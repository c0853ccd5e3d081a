import { formatAmount, parseAmount } from '@creditgate/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  billingClient,
  centRequest,
  startTestBilling,
  type BillingClient,
} from './support/billing.js';
import { spawnBilling } from './support/process.js';

/** A seeded generator, so a failing run can be replayed. */
function seededRandom(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * 200 concurrent authorizations of exactly 0.01 against 1.00 credit, spread over `clients`;
 * then every approved request settles at a random cost no higher than its ceiling.
 */
async function race(clients: BillingClient[], userId: string, seed: number) {
  await clients[0]!.mint.mutate({ userId, amount: '1.00' });

  const requests = Array.from({ length: 200 }, () => centRequest(userId));
  const decisions = await Promise.all(
    requests.map((input, index) => clients[index % clients.length]!.authorize.mutate(input)),
  );
  const approved = decisions.filter((decision) => decision.decision === 'approved');
  const denied = decisions.filter((decision) => decision.decision === 'denied');

  const random = seededRandom(seed);
  const settles = await Promise.all(
    approved.map((decision, index) =>
      // Settle on another process than the one that authorized, when there are two.
      clients[(index + 1) % clients.length]!.settle.mutate({
        requestId: decision.requestId,
        usage: { input: Math.floor(random() * 5001), output: Math.floor(random() * 5001) },
        status: 'complete',
      }),
    ),
  );
  const burned = settles.reduce((sum, settle) => sum + parseAmount(settle.cost), 0n);
  const balance = await clients[0]!.balance.query({ userId });
  return { approved, denied, burned, balance };
}

describe('concurrent authorizations on one account', () => {
  let stack: Awaited<ReturnType<typeof startTestBilling>>;

  beforeAll(async () => {
    stack = await startTestBilling();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('approves exactly as many holds as the balance covers, and burns exactly what settles', async () => {
    const { approved, denied, burned, balance } = await race([stack.client], 'usr_race_one', 7);

    expect(approved).toHaveLength(100);
    expect(denied).toHaveLength(100);
    expect(approved.every((decision) => decision.hold === '0.01')).toBe(true);
    expect(denied.every((decision) => decision.reason === 'insufficient_credits')).toBe(true);

    const remaining = parseAmount(balance.totals.credit!);
    expect(remaining).toBeGreaterThanOrEqual(0n);
    expect(balance.totals.credit).toBe(formatAmount(parseAmount('1') - burned));
    expect(balance.held.credit).toBe('0');
    expect((await stack.client.verify.query()).ok).toBe(true);
  });

  it('holds across two billing processes sharing the database', async () => {
    const second = await spawnBilling({
      databaseUrl: stack.databaseUrl,
      catalogPath: stack.catalogPath,
    });
    try {
      const clients = [stack.client, billingClient(second.url)];
      const { approved, burned, balance } = await race(clients, 'usr_race_two', 11);

      expect(approved).toHaveLength(100);
      expect(parseAmount(balance.totals.credit!)).toBeGreaterThanOrEqual(0n);
      expect(balance.totals.credit).toBe(formatAmount(parseAmount('1') - burned));
      expect(balance.held.credit).toBe('0');
      expect((await clients[1]!.verify.query()).ok).toBe(true);
    } finally {
      await second.stop();
    }
  });
});
