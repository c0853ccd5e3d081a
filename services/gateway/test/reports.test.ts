import { parseAmount } from '@creditgate/contracts';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gate, streamReply } from '../../../test/support/fake-upstream.js';
import { OPENAI_SCENARIO, startStack, type Stack } from '../../../test/support/stack.js';

/**
 * Usage reports through the operator CLI (a real child process) and the tRPC client, on
 * requests the real worker ran: usage by model and by day over a range, history of grants and
 * burns, balances and open holds, and the admin's view of another user.
 */
let stack: Stack;
let user: { userId: string; apiKey: string };
let admin: { userId: string; apiKey: string };
let customModelId: string;
const platform: Array<{ requestId: string; cost: string }> = [];

const DAY_MS = 24 * 3600 * 1000;
const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);

beforeAll(async () => {
  stack = await startStack();
  user = (await stack.cli(['user:create', '--name', 'Reporter'])).json as typeof user;
  await stack.cli(['grant:mint', '--user', user.userId, '--amount', '5']);
  admin = await stack.createUser('operator');
  await stack.gateway.deps.billing.capabilities.grant.mutate({
    userId: admin.userId,
    capability: 'admin',
  });

  const client = stack.openai(user.apiKey);
  for (const content of ['one', 'two']) {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content }],
    });
    platform.push({
      requestId: completion.id,
      cost: (completion.usage as unknown as { cost: string }).cost,
    });
  }
  const custom = await stack.trpc(user.apiKey).models.createCustom.mutate({
    name: 'home',
    providerModelId: 'llama3',
    baseUrl: stack.endpoint('reports-home', streamReply({ content: ['hi'] })),
  });
  customModelId = custom.id;
  await client.chat.completions.create({
    model: customModelId,
    messages: [{ role: 'user', content: 'three' }],
  });
});

afterAll(async () => {
  await stack?.close();
});

const cli = (args: string[]) => stack.cli(args);
const spent = () => platform.reduce((sum, request) => sum + parseAmount(request.cost), 0n);

interface UsageJson {
  total: { requests: number; cost: Record<string, string> };
  byModel?: Array<{
    modelId: string;
    routeClass: string;
    requests: number;
    cost: Record<string, string>;
  }>;
  byDay?: Array<{ day: string; requests: number }>;
}

describe('usage by model and by day', () => {
  it('the CLI breaks a range down by model or by day; tRPC gives the same report', async () => {
    const range = ['--user', user.userId, '--from', day(-1), '--to', day(2)];
    const [byModel, byDay, both] = await Promise.all([
      cli(['usage', ...range, '--by', 'model']),
      cli(['usage', ...range, '--by', 'day']),
      cli(['usage', ...range]),
    ]);
    expect([byModel.code, byDay.code, both.code]).toEqual([0, 0, 0]);

    const models = byModel.json as unknown as UsageJson;
    expect(models.byDay).toBeUndefined();
    expect(models.total.requests).toBe(3);
    expect(parseAmount(models.total.cost.credit!)).toBe(spent());
    const platformRow = models.byModel!.find((row) => row.modelId === 'gpt-4o-mini');
    const customRow = models.byModel!.find((row) => row.modelId === customModelId);
    expect(platformRow).toMatchObject({ routeClass: 'platform', requests: 2 });
    expect(parseAmount(platformRow!.cost.credit!)).toBe(spent());
    expect(customRow).toMatchObject({ routeClass: 'custom_endpoint', requests: 1, cost: {} });

    const days = byDay.json as unknown as UsageJson;
    expect(days.byModel).toBeUndefined();
    expect(days.byDay!.every((row) => /^\d{4}-\d{2}-\d{2}$/.test(row.day))).toBe(true);
    expect(days.byDay!.reduce((sum, row) => sum + row.requests, 0)).toBe(3);

    const viaTrpc = await stack
      .trpc(user.apiKey)
      .credits.usage.query({ from: day(-1), to: day(2) });
    expect(viaTrpc).toEqual(both.json);
  });

  it('reports nothing for a range before the requests', async () => {
    const past = await cli([
      'usage',
      '--user',
      user.userId,
      '--from',
      '2020-01-01',
      '--to',
      '2020-02-01',
    ]);
    expect(past.code).toBe(0);
    expect(past.json).toMatchObject({ total: { requests: 0, cost: {} }, byModel: [], byDay: [] });
  });

  it('refuses a bad breakdown, an inverted range and an unknown user with a clear error', async () => {
    const [by, inverted, nobody] = await Promise.all([
      cli(['usage', '--user', user.userId, '--by', 'week']),
      cli(['usage', '--user', user.userId, '--from', '2025-02-01', '--to', '2025-01-01']),
      cli(['usage', '--user', 'usr_nobody']),
    ]);
    expect(by.code).toBe(1);
    expect(by.stderr).toMatch(/--by/);
    expect(inverted.code).toBe(1);
    expect(inverted.stderr).toMatch(/`to` must be after `from`/);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/not_found/);
  });
});

describe('history of grants and burns', () => {
  it('filters by kind and date on the CLI', async () => {
    const grants = await cli(['history', '--user', user.userId, '--kind', 'mint,send']);
    const burns = await cli(['history', '--user', user.userId, '--kind', 'burn']);
    const future = await cli(['history', '--user', user.userId, '--from', day(1)]);
    const badKind = await cli(['history', '--user', user.userId, '--kind', 'gift']);

    type Page = { entries: Array<{ kind: string; amount: string; causeId: string | null }> };
    expect((grants.json as unknown as Page).entries).toEqual([
      expect.objectContaining({ kind: 'mint', amount: '5' }),
    ]);
    const burned = (burns.json as unknown as Page).entries;
    expect(burned.map((entry) => entry.kind)).toEqual(['burn', 'burn']);
    expect(burned.map((entry) => entry.causeId).sort()).toEqual(
      platform.map((request) => request.requestId).sort(),
    );
    expect((future.json as unknown as Page).entries).toEqual([]);
    expect(badKind.code).toBe(1);
    expect(badKind.stderr).toMatch(/--kind/);
  });

  it('pages through tRPC with the same filters', async () => {
    const trpc = stack.trpc(user.apiKey);
    const first = await trpc.credits.history.query({ kinds: ['burn'], limit: 1 });
    expect(first.entries).toHaveLength(1);
    expect(first.nextCursor).not.toBeNull();
    const second = await trpc.credits.history.query({
      kinds: ['burn'],
      limit: 1,
      cursor: first.nextCursor!,
    });
    expect(second.entries).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(second.entries[0]!.id).not.toBe(first.entries[0]!.id);
  });
});

describe('balances and open holds', () => {
  it('show a request in flight on the CLI and through tRPC, and nothing once it settled', async () => {
    const release = gate();
    stack.upstream.scenario(
      OPENAI_SCENARIO,
      streamReply({ content: ['later'] }, { after: 0, release: release.promise }),
    );
    const inFlight = stack.openai(user.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'wait' }],
    });
    await stack.upstream.requested(OPENAI_SCENARIO, 1);

    const holds = await cli(['holds', '--user', user.userId]);
    const viaTrpc = await stack.trpc(user.apiKey).credits.holds.query();
    expect(holds.code).toBe(0);
    expect(holds.json).toEqual(viaTrpc);
    expect(viaTrpc.holds).toEqual([
      expect.objectContaining({ modelId: 'gpt-4o-mini', currency: 'credit' }),
    ]);
    const balance = await cli(['balance', '--user', user.userId]);
    const held = parseAmount((balance.json as { held: Record<string, string> }).held.credit!);
    expect(held).toBe(parseAmount(viaTrpc.holds[0]!.amount));

    release.open();
    const completion = await inFlight;
    expect(viaTrpc.holds[0]!.requestId).toBe(completion.id);
    expect((await cli(['holds', '--user', user.userId])).json).toEqual({ holds: [] });
  });
});

describe("an admin's view of another user", () => {
  it('gives usage, history and holds to an admin, and 403 to anyone else', async () => {
    const asAdmin = stack.trpc(admin.apiKey);
    const usage = await asAdmin.admin.usage.query({
      userId: user.userId,
      from: day(-1),
      to: day(2),
    });
    expect(usage.total.requests).toBeGreaterThanOrEqual(3);
    const history = await asAdmin.admin.history.query({ userId: user.userId, kinds: ['mint'] });
    expect(history.entries.map((entry) => entry.amount)).toEqual(['5']);
    expect(await asAdmin.admin.holds.query({ userId: user.userId })).toEqual({ holds: [] });

    const error = await stack
      .trpc(user.apiKey)
      .admin.usage.query({ userId: admin.userId })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<never>).data).toMatchObject({
      code: 'FORBIDDEN',
      appCode: 'forbidden',
    });
  });
});
