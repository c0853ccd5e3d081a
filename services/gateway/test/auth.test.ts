import { clientRequestId } from '@creditgate/contracts';
import OpenAI from 'openai';
import { TRPCClientError } from '@trpc/client';
import { appRouter, type AppRouter } from '../src/trpc/router.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrpcClient, envelope, startStack, type Stack } from '../../../test/support/stack.js';

let stack: Stack;
let user: { userId: string; apiKey: string };

beforeAll(async () => {
  stack = await startStack({ worker: false });
  user = await stack.createUser('auth user');
});

afterAll(async () => {
  await stack?.close();
});

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

async function expectInvalidKey(apiKey: string) {
  const error = await stack
    .openai(apiKey)
    .chat.completions.create(chat)
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  const apiError = error as InstanceType<typeof OpenAI.AuthenticationError>;
  expect(apiError.status).toBe(401);
  expect(apiError.code).toBe('invalid_api_key');
  expect(apiError.type).toBe('authentication_error');
}

describe('API key authentication', () => {
  it('refuses a request without a key with 401 invalid_api_key in the OpenAI envelope', async () => {
    const response = await fetch(`${stack.gateway.url}/v1/models`);
    expect(response.status).toBe(401);
    const body = await envelope(response);
    expect(body.error.code).toBe('invalid_api_key');
    expect(body.error.type).toBe('authentication_error');
    expect(body.error.message).toMatch(/missing API key/);
  });

  it('refuses a wrong key', async () => {
    await expectInvalidKey('cg_this-key-does-not-exist-anywhere-at-all');
  });

  it('accepts a valid key on /v1 and /trpc', async () => {
    const models = await stack.openai(user.apiKey).models.list();
    expect(models.data.map((m) => m.id)).toContain('gpt-4o-mini');
    const list = await stack.trpc(user.apiKey).models.list.query();
    expect(list.length).toBeGreaterThan(0);
  });

  it('refuses a revoked key on the very next request', async () => {
    const trpc = stack.trpc(user.apiKey);
    const created = await trpc.keys.create.mutate({ name: 'short-lived' });
    expect(created.apiKey).toMatch(/^cg_/);
    await stack.openai(created.apiKey).models.list();

    // The key itself where its id belongs: refused, and not repeated in the answer.
    const mistaken = (await trpc.keys.revoke
      .mutate({ id: created.apiKey })
      .catch((e: unknown) => e)) as TRPCClientError<AppRouter>;
    expect(mistaken.data).toMatchObject({ httpStatus: 400 });
    expect(JSON.stringify({ message: mistaken.message, data: mistaken.data })).not.toContain(
      created.apiKey.slice(3),
    );
    await stack.openai(created.apiKey).models.list();

    await trpc.keys.revoke.mutate({ id: created.id });
    await expectInvalidKey(created.apiKey);
    const error = await stack
      .trpc(created.apiKey)
      .models.list.query()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<AppRouter>).data).toMatchObject({
      httpStatus: 401,
      appCode: 'invalid_api_key',
    });
  });

  it('lists keys by prefix only and never returns a key or hash', async () => {
    const keys = await stack.trpc(user.apiKey).keys.list.query();
    expect(keys.length).toBeGreaterThan(0);
    const text = JSON.stringify(keys);
    expect(text).not.toContain(user.apiKey);
    for (const key of keys) {
      expect(key.prefix.length).toBeLessThanOrEqual(10);
      expect(Object.keys(key)).not.toContain('hash');
    }
  });

  it("cannot revoke another user's key (answered like an unknown id)", async () => {
    const other = await stack.createUser('other');
    const [otherKey] = await stack.trpc(other.apiKey).keys.list.query();
    const error = await stack
      .trpc(user.apiKey)
      .keys.revoke.mutate({ id: otherKey!.id })
      .catch((e: unknown) => e);
    expect((error as TRPCClientError<AppRouter>).data).toMatchObject({ httpStatus: 404 });
    await stack.openai(other.apiKey).models.list();
  });

  it('requires a key on tRPC procedures', async () => {
    const error = await createTrpcClient(stack.gateway.url, undefined)
      .credits.balance.query()
      .catch((e: unknown) => e);
    expect((error as TRPCClientError<AppRouter>).data).toMatchObject({
      httpStatus: 401,
      code: 'UNAUTHORIZED',
      appCode: 'invalid_api_key',
    });
  });

  it('refuses admin procedures to users without the admin capability', async () => {
    const error = await stack
      .trpc(user.apiKey)
      .admin.mint.mutate({ userId: user.userId, amount: '5' })
      .catch((e: unknown) => e);
    expect((error as TRPCClientError<AppRouter>).data).toMatchObject({
      httpStatus: 403,
      appCode: 'forbidden',
    });
  });

  it('answers credits.send alike for a real and an unknown recipient without the send capability', async () => {
    const sender = await stack.createUser('sender');
    const recipient = await stack.createUser('recipient');
    const sendTo = (toUserId: string) =>
      stack
        .trpc(sender.apiKey)
        .credits.send.mutate({ toUserId, amount: '1' })
        .catch((e: unknown) => (e as TRPCClientError<AppRouter>).data);
    const refused = { httpStatus: 403, appCode: 'forbidden' };
    expect(await sendTo(recipient.userId)).toMatchObject(refused);
    expect(await sendTo('usr_aaaaaaaaaaaaaaaaaaaa')).toMatchObject(refused);

    // A caller who may send learns that the recipient does not exist.
    await stack.gateway.deps.billing.capabilities.grant.mutate({
      userId: sender.userId,
      capability: 'send',
    });
    expect(await sendTo('usr_aaaaaaaaaaaaaaaaaaaa')).toMatchObject({
      httpStatus: 404,
      appCode: 'not_found',
    });
  });

  it('refuses every admin procedure, with valid input, to a user without the capability', async () => {
    const inputs: Record<string, unknown> = {
      createUser: { name: 'intruder' },
      createKey: { userId: user.userId },
      mint: { userId: user.userId, amount: '5' },
      send: { fromUserId: user.userId, toUserId: user.userId, amount: '1' },
      balance: { userId: user.userId },
      grantCapability: { userId: user.userId, capability: 'admin' },
      revokeCapability: { userId: user.userId, capability: 'admin' },
      capabilities: { userId: user.userId },
      usage: { userId: user.userId },
      history: { userId: user.userId, limit: 5 },
      holds: { userId: user.userId },
    };
    const procedures = Object.keys(appRouter._def.procedures).filter((path) =>
      path.startsWith('admin.'),
    );
    expect(procedures.map((path) => path.slice('admin.'.length)).sort()).toEqual(
      Object.keys(inputs).sort(),
    );
    const before = await stack.gateway.deps.prisma.user.count();
    for (const path of procedures) {
      const procedure = (
        appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>
      )[path]!;
      const input = encodeURIComponent(JSON.stringify(inputs[path.slice('admin.'.length)]));
      const response =
        procedure._def.type === 'query'
          ? await fetch(`${stack.gateway.url}/trpc/${path}?input=${input}`, {
              headers: { authorization: `Bearer ${user.apiKey}` },
            })
          : await fetch(`${stack.gateway.url}/trpc/${path}`, {
              method: 'POST',
              headers: {
                authorization: `Bearer ${user.apiKey}`,
                'content-type': 'application/json',
              },
              body: decodeURIComponent(input),
            });
      expect(response.status, path).toBe(403);
    }
    expect(await stack.gateway.deps.prisma.user.count()).toBe(before);
    expect((await stack.trpc(user.apiKey).credits.balance.query()).totals).toEqual({});
  });

  it('carries an x-request-id on every response, derived from a valid incoming one and the key', async () => {
    const user = await stack.createUser();
    const get = (headers: Record<string, string>) =>
      fetch(`${stack.gateway.url}/v1/models`, { headers });
    const own = await get({
      authorization: `Bearer ${user.apiKey}`,
      'x-request-id': 'trace-abc.123',
    });
    expect(own.status).toBe(200);
    expect(own.headers.get('x-request-id')).toBe(clientRequestId(user.apiKey, 'trace-abc.123'));
    expect(own.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{20}$/);
    const fresh = await get({ authorization: `Bearer ${user.apiKey}` });
    expect(fresh.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{20}$/);

    const probe = await fetch(`${stack.gateway.url}/healthz`, {
      headers: { 'x-request-id': 'has spaces in it' },
    });
    expect(probe.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{20}$/);
  });

  it('refuses a malformed x-request-id on the API with 400, before anything runs', async () => {
    const user = await stack.createUser();
    for (const value of [
      'abc',
      'has spaces in it',
      'x'.repeat(129),
      'ünïcode-id-1',
      'a/b/c/d/e/f',
    ]) {
      const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${user.apiKey}`,
          'content-type': 'application/json',
          'x-request-id': value,
        },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(response.status, value).toBe(400);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
        /x-request-id must be 8 to 128/,
      );
    }
    const trpc = await fetch(`${stack.gateway.url}/trpc/models.list`, {
      headers: { authorization: `Bearer ${user.apiKey}`, 'x-request-id': 'abc' },
    });
    expect(trpc.status).toBe(400);
  });
});
