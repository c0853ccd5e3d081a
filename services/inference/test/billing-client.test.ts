import { newId, ZERO_USAGE } from '@creditgate/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingClient } from '../src/billing-client.js';
import { SERVICE_TOKEN, startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ worker: false });
});
afterAll(async () => {
  await h?.close();
});

describe('worker billing client', () => {
  it('sends concurrent settles and voids in one exchange, each with its own answer', async () => {
    const client = createBillingClient(h.proxy.url, SERVICE_TOKEN);
    const userId = 'usr_batched_settles';
    await h.mint(userId, '10');
    const ids = [newId('request'), newId('request'), newId('request')];
    for (const requestId of ids) {
      await h.billing.authorize.mutate({
        requestId,
        userId,
        modelId: 'gpt-4o-mini',
        routeClass: 'platform',
        promptTokens: 10,
        maxOutputTokens: 10,
      });
    }
    const usage = { ...ZERO_USAGE, input: 10, output: 10 };
    const before = h.proxy.httpRequests;

    const [settled, voided, unknown] = await Promise.allSettled([
      client.settle({ requestId: ids[0]!, usage, status: 'complete', usageEstimated: false }),
      client.void({ requestId: ids[1]!, reason: 'test' }),
      client.settle({
        requestId: 'req_never_authorized',
        usage,
        status: 'complete',
        usageEstimated: false,
      }),
    ]);

    expect(h.proxy.httpRequests - before).toBe(1);
    expect(settled).toMatchObject({ status: 'fulfilled', value: { cost: '0.0000075' } });
    expect(voided.status).toBe('fulfilled');
    expect(unknown.status).toBe('rejected');
    expect(h.proxy.of('settle', ids[0]!)).toMatchObject([{ status: 200, batched: true }]);
    expect(h.proxy.of('void', ids[1]!)).toMatchObject([{ status: 200, batched: true }]);
    expect(h.proxy.of('settle', 'req_never_authorized')).toMatchObject([
      { status: 404, batched: true },
    ]);

    // A call made while idle waits for company too: settle is off every client's path.
    await client.void({ requestId: ids[2]!, reason: 'test' });
    expect(h.proxy.of('void', ids[2]!)).toMatchObject([{ status: 200, batched: true }]);
  });
});
