import pg from 'pg';
import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../src/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../../test/support/stack.js';

const SECRET = 'sk-custom-endpoint-secret-5f2a9c1e';
const BYO_KEY = 'sk-proj-byo-provider-key-77aa88bb99cc';

/** Names resolve through this table in the SSRF guard, so tests choose what a host points at. */
const hosts: Record<string, string[]> = {
  'models.example.test': ['93.184.216.34'],
  'elsewhere.example.test': ['93.184.216.35'],
  'sneaky.example.test': ['93.184.216.34', '10.0.0.7'],
  'metadata.example.test': ['169.254.169.254'],
};

let stack: Stack;
let owner: { userId: string; apiKey: string };
let stranger: { userId: string; apiKey: string };

beforeAll(async () => {
  // Loopback is not allowlisted here: the SSRF guard's refusals are what this file checks.
  stack = await startStack({
    worker: false,
    env: { CUSTOM_ENDPOINT_ALLOW: '' },
    logLevel: 'trace',
    resolve: async (host) => {
      const addresses = hosts[host];
      if (!addresses) throw new Error('ENOTFOUND');
      return addresses;
    },
  });
  owner = await stack.createUser('owner');
  stranger = await stack.createUser('stranger');
});

afterAll(async () => {
  await stack?.close();
});

function trpcErrorData(error: unknown) {
  expect(error).toBeInstanceOf(TRPCClientError);
  return (error as TRPCClientError<AppRouter>).data;
}

describe('custom models', () => {
  let modelId: string;

  it('creates a custom model and shows hasApiKey, never the key', async () => {
    const model = await stack.trpc(owner.apiKey).models.createCustom.mutate({
      name: 'home llama',
      providerModelId: 'llama3.1:8b',
      baseUrl: 'https://models.example.test/v1',
      apiKey: SECRET,
    });
    modelId = model.id;
    expect(model).toMatchObject({
      id: expect.stringMatching(/^mdl_/),
      object: 'model',
      kind: 'custom',
      name: 'home llama',
      providerModelId: 'llama3.1:8b',
      baseUrl: 'https://models.example.test/v1',
      hasApiKey: true,
    });
    expect(JSON.stringify(model)).not.toContain(SECRET);
  });

  it('lists it in models.list and GET /v1/models without the key', async () => {
    const list = await stack.trpc(owner.apiKey).models.list.query();
    expect(list.map((m) => m.id)).toEqual(expect.arrayContaining(['gpt-4o-mini', modelId]));
    expect(JSON.stringify(list)).not.toContain(SECRET);

    const response = await fetch(`${stack.gateway.url}/v1/models`, {
      headers: { authorization: `Bearer ${owner.apiKey}` },
    });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).not.toContain(SECRET);
    const body = JSON.parse(text) as { object: string; data: Array<{ id: string }> };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id)).toContain(modelId);
  });

  it('stores the key only as ciphertext', async () => {
    const client = new pg.Client({ connectionString: stack.databases.gateway });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT * FROM custom_models');
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(SECRET);
      expect(rows[0].sealed_api_key).toMatch(/^v1\./);
    } finally {
      await client.end();
    }
  });

  it("hides one user's models from another: list, update, delete and chat answer 404", async () => {
    const trpc = stack.trpc(stranger.apiKey);
    expect((await trpc.models.list.query()).map((m) => m.id)).not.toContain(modelId);

    // One at a time: a call started early and failing before its turn would be unhandled.
    for (const call of [
      () => trpc.models.updateCustom.mutate({ id: modelId, name: 'mine now' }),
      () => trpc.models.deleteCustom.mutate({ id: modelId }),
      () => trpc.models.deleteCustom.mutate({ id: 'mdl_doesnotexist' }),
    ]) {
      const data = trpcErrorData(await call().catch((e: unknown) => e));
      expect(data).toMatchObject({ httpStatus: 404, appCode: 'model_not_found' });
    }

    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stranger.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: modelId, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'model_not_found',
    );
  });

  it('never carries the stored key to a base URL on another server', async () => {
    const trpc = stack.trpc(owner.apiKey);
    const moved = await trpc.models.updateCustom
      .mutate({ id: modelId, baseUrl: 'https://elsewhere.example.test/v1' })
      .catch((e: unknown) => e);
    expect(trpcErrorData(moved)).toMatchObject({
      httpStatus: 400,
      appCode: 'invalid_request_error',
    });
    expect((moved as Error).message).toMatch(/send its apiKey again/);
    // Nothing changed.
    const [model] = (await trpc.models.list.query()).filter((m) => m.id === modelId);
    expect(model).toMatchObject({ baseUrl: 'https://models.example.test/v1', hasApiKey: true });

    // Another path on the same server keeps the key; a move with a key sent again is fine.
    expect(
      await trpc.models.updateCustom.mutate({
        id: modelId,
        baseUrl: 'https://models.example.test/api/v1',
      }),
    ).toMatchObject({ hasApiKey: true });
    expect(
      await trpc.models.updateCustom.mutate({
        id: modelId,
        baseUrl: 'https://elsewhere.example.test/v1',
        apiKey: `${SECRET}-elsewhere`,
      }),
    ).toMatchObject({ baseUrl: 'https://elsewhere.example.test/v1', hasApiKey: true });
    await trpc.models.updateCustom.mutate({
      id: modelId,
      baseUrl: 'https://models.example.test/v1',
      apiKey: SECRET,
    });
  });

  it('updates fields and removes the key with apiKey: null', async () => {
    const trpc = stack.trpc(owner.apiKey);
    const updated = await trpc.models.updateCustom.mutate({
      id: modelId,
      providerModelId: 'llama3.1:70b',
      apiKey: null,
    });
    expect(updated).toMatchObject({ providerModelId: 'llama3.1:70b', hasApiKey: false });
  });

  it('refuses a duplicate name with 400', async () => {
    const error = await stack
      .trpc(owner.apiKey)
      .models.createCustom.mutate({
        name: 'home llama',
        providerModelId: 'x',
        baseUrl: 'https://models.example.test/v1',
      })
      .catch((e: unknown) => e);
    expect(trpcErrorData(error)).toMatchObject({ httpStatus: 400 });
  });

  it.each([
    ['http://127.0.0.1:8080/v1', 'loopback_address'],
    ['http://[::1]/v1', 'loopback_address'],
    ['http://10.1.2.3/v1', 'private_address'],
    ['http://169.254.169.254/latest', 'link_local_address'],
    ['https://metadata.example.test/v1', 'link_local_address'],
    ['https://sneaky.example.test/v1', 'private_address'],
    ['http://[::ffff:127.0.0.1]/v1', 'loopback_address'],
    ['ftp://models.example.test/v1', 'scheme_not_allowed'],
    ['https://user:pw@models.example.test/v1', 'credentials_in_url'],
    ['https://unknown.example.test/v1', 'unresolvable_host'],
  ])('refuses base URL %s with 400 naming %s', async (baseUrl, rule) => {
    const error = await stack
      .trpc(owner.apiKey)
      .models.createCustom.mutate({
        name: `ssrf ${rule} ${baseUrl.length}`,
        providerModelId: 'x',
        baseUrl,
      })
      .catch((e: unknown) => e);
    expect(trpcErrorData(error)).toMatchObject({
      httpStatus: 400,
      appCode: 'invalid_request_error',
    });
    const message = (error as Error).message;
    expect(message).toContain(rule);
    expect(message).not.toMatch(/10\.0\.0\.7|169\.254\.169\.254.*resolv/);
  });

  it('applies the same guard on update', async () => {
    const error = await stack
      .trpc(owner.apiKey)
      .models.updateCustom.mutate({ id: modelId, baseUrl: 'http://192.168.1.10/v1' })
      .catch((e: unknown) => e);
    expect(trpcErrorData(error)).toMatchObject({ httpStatus: 400 });
    expect((error as Error).message).toContain('private_address');
  });

  it('deletes a model', async () => {
    const trpc = stack.trpc(owner.apiKey);
    expect(await trpc.models.deleteCustom.mutate({ id: modelId })).toEqual({
      id: modelId,
      deleted: true,
    });
    expect((await trpc.models.list.query()).map((m) => m.id)).not.toContain(modelId);
  });
});

describe('provider keys (BYO)', () => {
  it('stores a provider key sealed and shows only its prefix', async () => {
    const trpc = stack.trpc(owner.apiKey);
    const byo = BYO_KEY;
    const set = await trpc.providerKeys.set.mutate({ provider: 'openai', key: byo });
    expect(set.provider).toBe('openai');
    expect(byo.startsWith(set.prefix)).toBe(true);
    expect(set.prefix.length).toBeLessThan(byo.length / 2);

    const list = await trpc.providerKeys.list.query();
    expect(JSON.stringify(list)).not.toContain(byo);
    expect(await stack.trpc(stranger.apiKey).providerKeys.list.query()).toEqual([]);

    await trpc.providerKeys.delete.mutate({ provider: 'openai' });
    expect(await trpc.providerKeys.list.query()).toEqual([]);
  });
});

describe('logs', () => {
  // Registered last so it reads the lines of every test above.
  it('never contain a custom endpoint key or a provider key', () => {
    expect(stack.logs.length).toBeGreaterThan(0);
    const text = stack.logs.join('');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(BYO_KEY);
    expect(text).not.toContain(owner.apiKey);
  });
});
