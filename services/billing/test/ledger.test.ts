import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centRequest, errorOf, startTestBilling, testClock } from './support/billing.js';

const clock = testClock(new Date('2030-03-01T10:00:00Z'));
let stack: Awaited<ReturnType<typeof startTestBilling>>;

beforeAll(async () => {
  stack = await startTestBilling({}, { now: clock.now });
});
afterAll(async () => {
  await stack?.close();
});

describe('mint, send and tally', () => {
  it('mints into a new account and reports the balance after', async () => {
    const change = await stack.client.mint.mutate({
      userId: 'usr_l_mint',
      amount: '2.5',
      reason: 'welcome',
    });
    expect(change).toMatchObject({
      userId: 'usr_l_mint',
      currency: 'credit',
      amount: '2.5',
      balance: '2.5',
      available: '2.5',
    });
    expect(change.entryId).toMatch(/^ent_/);
  });

  it('refuses amounts that are not positive exact decimals', async () => {
    for (const amount of ['0', '-1', '1.0000000001', 'ten', '1e3']) {
      const error = await errorOf(stack.client.mint.mutate({ userId: 'usr_l_bad', amount }));
      expect(error).toMatchObject({
        code: 'BAD_REQUEST',
        status: 400,
        appCode: 'invalid_request_error',
      });
    }
    expect((await stack.client.balance.query({ userId: 'usr_l_bad' })).totals).toEqual({});
  });

  it('sends between users, with an entry on each side', async () => {
    await stack.client.mint.mutate({
      userId: 'usr_l_from',
      amount: '1',
      currency: 'claude-credit',
    });
    const sent = await stack.client.send.mutate({
      fromUserId: 'usr_l_from',
      toUserId: 'usr_l_to',
      amount: '0.25',
      currency: 'claude-credit',
    });
    expect(sent).toEqual({
      fromUserId: 'usr_l_from',
      toUserId: 'usr_l_to',
      currency: 'claude-credit',
      amount: '0.25',
      fromAvailable: '0.75',
    });
    expect((await stack.client.balance.query({ userId: 'usr_l_to' })).totals).toEqual({
      'claude-credit': '0.25',
    });

    const [incoming] = (await stack.client.history.query({ userId: 'usr_l_to' })).entries;
    expect(incoming).toMatchObject({ kind: 'send', amount: '0.25', counterpartyId: 'usr_l_from' });
    const [outgoing] = (await stack.client.history.query({ userId: 'usr_l_from' })).entries;
    expect(outgoing).toMatchObject({ kind: 'send', amount: '-0.25', counterpartyId: 'usr_l_to' });
    expect(outgoing!.causeId).toBe(incoming!.causeId);
  });

  it('sends only what is available, never what is held', async () => {
    await stack.client.mint.mutate({ userId: 'usr_l_held', amount: '0.015' });
    await stack.client.authorize.mutate(centRequest('usr_l_held'));

    const error = await errorOf(
      stack.client.send.mutate({ fromUserId: 'usr_l_held', toUserId: 'usr_l_to', amount: '0.01' }),
    );
    expect(error).toMatchObject({ code: 'PAYMENT_REQUIRED', appCode: 'insufficient_credits' });
    const self = await errorOf(
      stack.client.send.mutate({
        fromUserId: 'usr_l_held',
        toUserId: 'usr_l_held',
        amount: '0.001',
      }),
    );
    expect(self).toMatchObject({ code: 'BAD_REQUEST', appCode: 'invalid_request_error' });
  });

  it('applies a tally as given, in either direction', async () => {
    await stack.client.mint.mutate({ userId: 'usr_l_tally', amount: '1' });
    await stack.client.tally.mutate({
      userId: 'usr_l_tally',
      amount: '-1.5',
      currency: 'credit',
      reason: 'chargeback',
    });
    await stack.client.tally.mutate({
      userId: 'usr_l_tally',
      amount: '0.2',
      currency: 'credit',
      reason: 'refund',
    });
    expect((await stack.client.balance.query({ userId: 'usr_l_tally' })).totals.credit).toBe(
      '-0.3',
    );

    const zero = await errorOf(
      stack.client.tally.mutate({
        userId: 'usr_l_tally',
        amount: '0',
        currency: 'credit',
        reason: 'x',
      }),
    );
    expect(zero).toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('acting users', () => {
  it('needs the mint capability (or admin) for a user to mint', async () => {
    const denied = await errorOf(
      stack.client.mint.mutate({
        userId: 'usr_l_target',
        amount: '1',
        actorUserId: 'usr_l_nobody',
      }),
    );
    expect(denied).toMatchObject({ code: 'FORBIDDEN', status: 403, appCode: 'forbidden' });

    await stack.client.capabilities.grant.mutate({ userId: 'usr_l_minter', capability: 'mint' });
    const minted = await stack.client.mint.mutate({
      userId: 'usr_l_target',
      amount: '1',
      actorUserId: 'usr_l_minter',
    });
    expect(minted.balance).toBe('1');
  });

  it('needs the send capability to send from one’s own account, and admin for anyone else’s', async () => {
    await stack.client.mint.mutate({ userId: 'usr_l_sender', amount: '1' });
    const send = (actorUserId: string) =>
      stack.client.send.mutate({
        fromUserId: 'usr_l_sender',
        toUserId: 'usr_l_friend',
        amount: '0.1',
        actorUserId,
      });

    expect(await errorOf(send('usr_l_sender'))).toMatchObject({ code: 'FORBIDDEN' });
    await stack.client.capabilities.grant.mutate({ userId: 'usr_l_sender', capability: 'send' });
    expect((await send('usr_l_sender')).fromAvailable).toBe('0.9');

    await stack.client.capabilities.grant.mutate({ userId: 'usr_l_other', capability: 'send' });
    expect(await errorOf(send('usr_l_other'))).toMatchObject({ code: 'FORBIDDEN' });
    await stack.client.capabilities.grant.mutate({ userId: 'usr_l_admin', capability: 'admin' });
    expect((await send('usr_l_admin')).fromAvailable).toBe('0.8');
  });

  it('lets only admins change capabilities', async () => {
    const denied = await errorOf(
      stack.client.capabilities.grant.mutate({
        userId: 'usr_l_someone',
        capability: 'overspend',
        actorUserId: 'usr_l_minter',
      }),
    );
    expect(denied).toMatchObject({ code: 'FORBIDDEN' });

    await stack.client.capabilities.grant.mutate({ userId: 'usr_l_boss', capability: 'admin' });
    const granted = await stack.client.capabilities.grant.mutate({
      userId: 'usr_l_someone',
      capability: 'overspend',
      actorUserId: 'usr_l_boss',
    });
    expect(granted).toEqual({ capability: 'overspend', active: true, expiresAt: null });

    const listed = await stack.client.capabilities.list.query({ userId: 'usr_l_someone' });
    expect(listed.capabilities.find((state) => state.capability === 'overspend')?.active).toBe(
      true,
    );
    expect(listed.history).toEqual([
      expect.objectContaining({ capability: 'overspend', action: 'grant', actorId: 'usr_l_boss' }),
    ]);
  });

  it('refuses a grant that would already have expired', async () => {
    const error = await errorOf(
      stack.client.capabilities.grant.mutate({
        userId: 'usr_l_someone',
        capability: 'send',
        expiresAt: new Date(clock.now().getTime() - 1000).toISOString(),
      }),
    );
    expect(error).toMatchObject({ code: 'BAD_REQUEST', appCode: 'invalid_request_error' });
  });
});

describe('reports', () => {
  it('pages through history, newest first, optionally by currency', async () => {
    const userId = 'usr_l_pages';
    for (const amount of ['1', '2', '3']) await stack.client.mint.mutate({ userId, amount });
    await stack.client.mint.mutate({ userId, amount: '9', currency: 'claude-credit' });

    const first = await stack.client.history.query({ userId, currency: 'credit', limit: 2 });
    expect(first.entries.map((entry) => entry.amount)).toEqual(['3', '2']);
    const second = await stack.client.history.query({
      userId,
      currency: 'credit',
      limit: 2,
      cursor: first.nextCursor!,
    });
    expect(second.entries.map((entry) => entry.amount)).toEqual(['1']);
    expect(second.nextCursor).toBeNull();
  });

  it('reports usage by model and by day, and one request only to its owner', async () => {
    const userId = 'usr_l_usage';
    await stack.client.mint.mutate({ userId, amount: '1' });
    const run = async (modelId: string, input: number, output: number) => {
      const request = { ...centRequest(userId), modelId };
      await stack.client.authorize.mutate(request);
      await stack.client.settle.mutate({
        requestId: request.requestId,
        usage: { input, output },
        status: 'complete',
      });
      return request.requestId;
    };

    const firstId = await run('flat', 1000, 1000);
    await run('claude-flat', 500, 500);
    clock.advance(24 * 60 * 60_000);
    await run('flat', 2000, 0);
    expect(await stack.client.holds.query({ userId })).toEqual({ holds: [] });

    const report = await stack.client.usage.query({ userId, from: '2030-03-01', to: '2030-03-03' });
    expect(report.total).toMatchObject({ requests: 3, cost: { credit: '0.005' } });
    expect(report.byModel).toEqual([
      expect.objectContaining({ modelId: 'claude-flat', requests: 1, cost: { credit: '0.001' } }),
      expect.objectContaining({
        modelId: 'flat',
        requests: 2,
        tokens: expect.objectContaining({ input: 3000, output: 1000 }),
        cost: { credit: '0.004' },
      }),
    ]);
    expect(report.byDay.map((day) => [day.day, day.requests, day.cost])).toEqual([
      ['2030-03-01', 2, { credit: '0.003' }],
      ['2030-03-02', 1, { credit: '0.002' }],
    ]);

    expect(await stack.client.request.query({ requestId: firstId, userId })).toMatchObject({
      modelId: 'flat',
      status: 'settled',
      cost: '0.002',
      currency: 'credit',
      routeClass: 'platform',
    });
    const foreign = await errorOf(
      stack.client.request.query({ requestId: firstId, userId: 'usr_l_other' }),
    );
    expect(foreign).toMatchObject({ code: 'NOT_FOUND', appCode: 'not_found' });
  });

  it('lists open holds and proves the ledger consistent', async () => {
    await stack.client.mint.mutate({ userId: 'usr_l_open', amount: '1' });
    const request = centRequest('usr_l_open');
    await stack.client.authorize.mutate(request);

    expect(await stack.client.holds.query({ userId: 'usr_l_open' })).toEqual({
      holds: [
        expect.objectContaining({ requestId: request.requestId, modelId: 'flat', amount: '0.01' }),
      ],
    });
    const report = await stack.client.verify.query();
    expect(report).toMatchObject({ ok: true, mismatches: [] });
    expect(report.entries).toBeGreaterThan(0);
  });
});
