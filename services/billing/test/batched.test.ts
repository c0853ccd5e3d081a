import { createLogger } from '@creditgate/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAT, centRequest, errorOf, requestIdFor, startTestBilling } from './support/billing.js';

let stack: Awaited<ReturnType<typeof startTestBilling>>;
const logs: Array<{ msg: string; requestId?: string }> = [];

beforeAll(async () => {
  const destination = { write: (line: string) => void logs.push(JSON.parse(line)) };
  stack = await startTestBilling(
    {},
    { logger: createLogger({ service: 'billing', level: 'debug', pretty: false, destination }) },
  );
});
afterAll(async () => {
  await stack?.close();
});

let users = 0;
async function userWith(credit: string) {
  users += 1;
  const userId = `usr_many_${users}`;
  await stack.client.mint.mutate({ userId, amount: credit });
  return userId;
}

describe('authorizeMany and settleMany', () => {
  it('answer each item as the single call would, in order', async () => {
    const userId = await userWith('0.02');
    const [first, second, third] = [1, 2, 3].map(() => centRequest(userId));

    const decisions = await stack.client.authorizeMany.mutate({ items: [first!, second!, third!] });
    expect(decisions.map((outcome) => outcome.ok && outcome.value.decision)).toEqual([
      'approved',
      'approved',
      'denied',
    ]);
    expect(decisions[0]).toEqual({
      ok: true,
      value: {
        requestId: first!.requestId,
        decision: 'approved',
        reason: 'balance',
        currency: 'credit',
        hold: '0.01',
        maxOutputTokens: 5000,
        outputClamped: false,
        replayed: false,
        prices: FLAT,
        settleBy: expect.any(Number),
      },
    });
    // The single call replays what the batched one decided.
    expect(await stack.client.authorize.mutate(second!)).toMatchObject({
      decision: 'approved',
      replayed: true,
    });

    const settled = await stack.client.settleMany.mutate({
      items: [first!, second!].map((request) => ({
        requestId: request.requestId,
        usage: { input: 1000, output: 1000 },
        status: 'complete' as const,
      })),
    });
    expect(settled).toEqual([
      {
        ok: true,
        value: {
          requestId: first!.requestId,
          status: 'complete',
          cost: '0.002',
          currency: 'credit',
        },
      },
      {
        ok: true,
        value: {
          requestId: second!.requestId,
          status: 'complete',
          cost: '0.002',
          currency: 'credit',
        },
      },
    ]);
    expect(await stack.client.balance.query({ userId })).toEqual({
      totals: { credit: '0.016' },
      held: { credit: '0' },
      available: { credit: '0.016' },
    });
    expect((await stack.client.verify.query()).ok).toBe(true);
  });

  it("name each item's request id in billing's log lines", async () => {
    const userId = await userWith('1');
    const [first, second] = [centRequest(userId), centRequest(userId)];
    const missing = { ...first!, requestId: requestIdFor(), modelId: 'no-such-model' };
    await stack.client.authorizeMany.mutate({ items: [first!, second!, missing] });
    await stack.client.settleMany.mutate({
      items: [first!, second!].map((request) => ({
        requestId: request.requestId,
        usage: { input: 10 },
        status: 'complete' as const,
      })),
    });

    const idsOf = (msg: string) =>
      logs.filter((line) => line.msg === msg).map((line) => line.requestId);
    expect(idsOf('authorize')).toEqual(
      expect.arrayContaining([first!.requestId, second!.requestId]),
    );
    expect(idsOf('settle')).toEqual(expect.arrayContaining([first!.requestId, second!.requestId]));
    expect(idsOf('procedure refused')).toContain(missing.requestId);
  });

  it('fail only the items that fail, with the error the single call would give', async () => {
    const userId = await userWith('1');
    const good = centRequest(userId);
    const conflicting = centRequest(userId);
    await stack.client.authorize.mutate(conflicting);

    const decisions = await stack.client.authorizeMany.mutate({
      items: [
        good,
        { ...good, requestId: requestIdFor(), modelId: 'no-such-model' },
        { ...conflicting, promptTokens: 1 },
      ],
    });
    expect(decisions[0]).toMatchObject({ ok: true, value: { decision: 'approved' } });
    expect(decisions[1]).toEqual({
      ok: false,
      error: {
        message: 'model "no-such-model" is not in the catalog',
        code: 'NOT_FOUND',
        httpStatus: 404,
        appCode: 'model_not_found',
      },
    });
    expect(decisions[2]).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT', httpStatus: 409, appCode: 'idempotency_conflict' },
    });

    const settled = await stack.client.settleMany.mutate({
      items: [
        { requestId: good.requestId, usage: { input: 10 }, status: 'complete' },
        { requestId: requestIdFor('never'), usage: { input: 10 }, status: 'complete' },
      ],
    });
    expect(settled[0]).toMatchObject({ ok: true, value: { cost: '0.00001' } });
    expect(settled[1]).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND', httpStatus: 404, appCode: 'not_found' },
    });
  });

  it('refuse an empty call, an invalid item and more items than one batch may carry', async () => {
    const request = centRequest('usr_many_invalid');
    expect(await errorOf(stack.client.authorizeMany.mutate({ items: [] }))).toMatchObject({
      code: 'BAD_REQUEST',
      appCode: 'invalid_request_error',
    });
    const invalid = await errorOf(
      stack.client.authorizeMany.mutate({ items: [request, { ...request, promptTokens: -1 }] }),
    );
    expect(invalid).toMatchObject({ code: 'BAD_REQUEST', status: 400 });
    expect(invalid.message).toContain('items.1.promptTokens');
    const tooMany = Array.from({ length: 257 }, () => centRequest('usr_many_invalid'));
    expect(await errorOf(stack.client.authorizeMany.mutate({ items: tooMany }))).toMatchObject({
      code: 'BAD_REQUEST',
    });
    // Nothing of a refused call was written.
    expect(await errorOf(stack.client.settle.mutate({ ...settleOf(request) }))).toMatchObject({
      appCode: 'not_found',
    });
  });
});

function settleOf(request: { requestId: string }) {
  return { requestId: request.requestId, usage: { input: 1 }, status: 'complete' as const };
}
