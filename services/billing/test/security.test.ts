import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SERVICE_TOKEN,
  billingClient,
  centRequest,
  errorOf,
  startTestBilling,
  type BillingClient,
} from './support/billing.js';

let stack: Awaited<ReturnType<typeof startTestBilling>>;

beforeAll(async () => {
  stack = await startTestBilling();
});
afterAll(async () => {
  await stack?.close();
});

const userId = 'usr_security';

/** One call of every procedure, with input that would succeed given the service token. */
function everyProcedure(client: BillingClient) {
  const request = centRequest(userId);
  return {
    authorize: () => client.authorize.mutate(request),
    settle: () =>
      client.settle.mutate({ requestId: request.requestId, usage: {}, status: 'complete' }),
    authorizeMany: () => client.authorizeMany.mutate({ items: [request] }),
    settleMany: () =>
      client.settleMany.mutate({
        items: [{ requestId: request.requestId, usage: {}, status: 'complete' }],
      }),
    void: () => client.void.mutate({ requestId: request.requestId, reason: 'test' }),
    balance: () => client.balance.query({ userId }),
    holds: () => client.holds.query({ userId }),
    history: () => client.history.query({ userId }),
    usage: () => client.usage.query({ userId, from: '2020-01-01', to: '2030-01-01' }),
    request: () => client.request.query({ requestId: request.requestId, userId }),
    mint: () => client.mint.mutate({ userId, amount: '100' }),
    send: () => client.send.mutate({ fromUserId: userId, toUserId: 'usr_thief', amount: '1' }),
    tally: () => client.tally.mutate({ userId, amount: '100', currency: 'credit', reason: 'x' }),
    verify: () => client.verify.query(),
    'capabilities.grant': () => client.capabilities.grant.mutate({ userId, capability: 'admin' }),
    'capabilities.revoke': () => client.capabilities.revoke.mutate({ userId, capability: 'admin' }),
    'capabilities.list': () => client.capabilities.list.query({ userId }),
    'capabilities.check': () => client.capabilities.check.query({ userId, capability: 'admin' }),
  };
}

const callers: Record<string, Record<string, string>> = {
  'no token': {},
  'a wrong token': { 'x-service-token': `${SERVICE_TOKEN}x` },
  'a user API key as token': { 'x-service-token': 'cg_live_0123456789abcdefghijklmnopqrstuv' },
  'the service token as a bearer key': { authorization: `Bearer ${SERVICE_TOKEN}` },
};

describe.each(Object.entries(callers))('a caller with %s', (_label, headers) => {
  it.each(Object.keys(everyProcedure(billingClient('http://unused'))))(
    'is refused by %s',
    async (name) => {
      const client = billingClient(stack.billing.url, headers);
      const call = everyProcedure(client)[name as keyof ReturnType<typeof everyProcedure>];
      expect(await errorOf(call())).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    },
  );
});

describe('after every refused call', () => {
  it('nothing was written', async () => {
    const { client } = stack;
    expect(await client.balance.query({ userId })).toEqual({ totals: {}, held: {}, available: {} });
    expect((await client.capabilities.check.query({ userId, capability: 'admin' })).active).toBe(
      false,
    );
    expect((await client.verify.query()).entries).toBe(0);
  });
});

describe('health endpoints', () => {
  it('answers liveness and readiness without the token, metrics only with it', async () => {
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${stack.billing.url}${path}`, { headers });
    expect((await get('/healthz')).status).toBe(200);
    expect(await (await get('/readyz')).json()).toEqual({ status: 'ready' });
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', { authorization: `Bearer ${SERVICE_TOKEN}x` })).status).toBe(401);
    const metrics = await (
      await get('/metrics', { authorization: `Bearer ${SERVICE_TOKEN}` })
    ).text();
    expect(metrics).toContain('billing_open_holds');
    expect(metrics).toContain('http_request_duration_seconds');
  });
});
