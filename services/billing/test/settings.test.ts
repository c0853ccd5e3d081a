import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centRequest, requestIdFor, startTestBilling } from './support/billing.js';

describe('with BYO keys off and custom endpoints metered', () => {
  let stack: Awaited<ReturnType<typeof startTestBilling>>;

  beforeAll(async () => {
    stack = await startTestBilling({
      BYO_KEYS_ENABLED: 'false',
      METER_CUSTOM_ENDPOINTS: 'true',
      CUSTOM_ENDPOINT_PRICES: JSON.stringify({
        '*': { input: '1', output: '1', cacheWrite: '1', cacheWrite1h: '1' },
        mdl_expensive: { input: '10', output: '10', cacheWrite: '10', cacheWrite1h: '10' },
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('treats a BYO request like any platform request', async () => {
    const userId = 'usr_settings_byo';
    const denied = await stack.client.authorize.mutate({
      ...centRequest(userId),
      routeClass: 'platform_byo',
    });
    expect(denied).toMatchObject({ decision: 'denied', reason: 'insufficient_credits' });

    await stack.client.mint.mutate({ userId, amount: '1' });
    const approved = await stack.client.authorize.mutate({
      ...centRequest(userId),
      routeClass: 'platform_byo',
    });
    expect(approved).toMatchObject({ decision: 'approved', reason: 'balance', hold: '0.01' });
  });

  it('meters custom endpoints at the configured price, per model or by default', async () => {
    const userId = 'usr_settings_custom';
    await stack.client.mint.mutate({ userId, amount: '1' });
    const custom = (modelId: string) => ({
      requestId: requestIdFor(),
      userId,
      modelId,
      routeClass: 'custom_endpoint' as const,
      promptTokens: 5000,
      maxOutputTokens: 5000,
    });

    const cheap = await stack.client.authorize.mutate(custom('mdl_any'));
    expect(cheap).toMatchObject({ decision: 'approved', reason: 'balance', hold: '0.01' });
    const expensive = await stack.client.authorize.mutate(custom('mdl_expensive'));
    expect(expensive).toMatchObject({ decision: 'approved', hold: '0.1' });

    const settled = await stack.client.settle.mutate({
      requestId: expensive.requestId,
      usage: { input: 1000, output: 1000 },
      status: 'complete',
    });
    expect(settled).toEqual({
      requestId: expensive.requestId,
      status: 'complete',
      cost: '0.02',
      currency: 'credit',
    });
  });

  it('denies a metered custom endpoint to a user without credits', async () => {
    const decision = await stack.client.authorize.mutate({
      requestId: requestIdFor(),
      userId: 'usr_settings_empty',
      modelId: 'mdl_any',
      routeClass: 'custom_endpoint',
      promptTokens: 10,
      maxOutputTokens: 10,
    });
    expect(decision).toMatchObject({ decision: 'denied', reason: 'insufficient_credits' });
  });
});
