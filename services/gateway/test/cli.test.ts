import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../../test/support/stack.js';

const OLD_KEY = Buffer.alloc(32, 1).toString('base64');
const NEW_KEY = Buffer.alloc(32, 2).toString('base64');

/** The admin CLI as an operator runs it: a real child process next to a running stack. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { ENCRYPTION_KEY: OLD_KEY } });
});

afterAll(async () => {
  await stack?.close();
});

const cli = (args: string[], env?: Record<string, string>) => stack.cli(args, env);

describe('admin CLI', () => {
  let userId: string;
  let apiKey: string;

  it('user:create prints the user id and an API key that works', async () => {
    const result = await cli(['user:create', '--name', 'Ada']);
    expect(result.code).toBe(0);
    expect(result.json).toEqual({
      userId: expect.stringMatching(/^usr_/),
      apiKey: expect.stringMatching(/^cg_/),
    });
    ({ userId, apiKey } = result.json as { userId: string; apiKey: string });
    const models = await stack.openai(apiKey).models.list();
    expect(models.data.length).toBeGreaterThan(0);
  });

  it('grant:mint and balance go through billing', async () => {
    expect((await cli(['grant:mint', '--user', userId, '--amount', '2.5'])).code).toBe(0);
    const balance = await cli(['balance', '--user', userId]);
    expect(balance.code).toBe(0);
    expect(balance.json).toMatchObject({ totals: { credit: '2.5' } });
    const viaApi = await stack.trpc(apiKey).credits.balance.query();
    expect(viaApi).toMatchObject({ totals: { credit: '2.5' } });
  });

  it('grant:send moves credits, and history shows the entries', async () => {
    const other = (await cli(['user:create', '--name', 'Grace'])).json as { userId: string };
    const sent = await cli([
      'grant:send',
      '--from',
      userId,
      '--to',
      other.userId,
      '--amount',
      '0.5',
    ]);
    expect(sent.code).toBe(0);
    expect((await cli(['balance', '--user', other.userId])).json).toMatchObject({
      totals: { credit: '0.5' },
    });
    const history = await cli(['history', '--user', userId]);
    expect(history.code).toBe(0);
    expect(JSON.stringify(history.json)).toMatch(/mint/);
  });

  it('capability:grant and capability:revoke decide admin access', async () => {
    const trpc = stack.trpc(apiKey);
    expect((await cli(['capability:grant', '--user', userId, '--capability', 'admin'])).code).toBe(
      0,
    );
    const caps = await trpc.admin.capabilities.query({ userId });
    expect(JSON.stringify(caps)).toContain('admin');
    expect((await cli(['capability:revoke', '--user', userId, '--capability', 'admin'])).code).toBe(
      0,
    );
    await expect(trpc.admin.capabilities.query({ userId })).rejects.toThrow(/admin capability/);
  });

  it('key:create, key:list (prefixes only) and key:revoke', async () => {
    const created = await cli(['key:create', '--user', userId, '--name', 'ci']);
    expect(created.code).toBe(0);
    const { id, apiKey: second } = created.json as { id: string; apiKey: string };
    expect(second).toMatch(/^cg_/);

    const listed = await cli(['key:list', '--user', userId]);
    expect(listed.stdout).not.toContain(second);
    expect(listed.stdout).not.toContain(apiKey);
    expect(JSON.stringify(listed.json)).toContain(id);

    // The secret pasted where the id belongs is refused without being repeated.
    const mistaken = await cli(['key:revoke', '--key', second]);
    expect(mistaken.code).toBe(1);
    expect(mistaken.stderr).toMatch(/--key: must be an API key id/);
    expect(mistaken.stdout + mistaken.stderr).not.toContain(second.slice(3));

    expect((await cli(['key:revoke', '--key', id])).code).toBe(0);
    const refused = await fetch(`${stack.gateway.url}/v1/models`, {
      headers: { authorization: `Bearer ${second}` },
    });
    expect(refused.status).toBe(401);
  });

  it('key:add stores a BYO provider key sealed, and keys:rotate re-seals it under the new key', async () => {
    const byo = 'sk-byo-provider-secret-aa11bb22cc33';
    const added = await cli(['key:add', '--user', userId, '--provider', 'openai', '--key', byo]);
    expect(added.code).toBe(0);
    expect(added.stdout).not.toContain(byo);

    const sealedBefore = await sealedKeys();
    expect(sealedBefore.join()).not.toContain(byo);

    const rotated = await cli(['keys:rotate'], {
      ENCRYPTION_KEY: NEW_KEY,
      ENCRYPTION_KEYS_OLD: OLD_KEY,
    });
    expect(rotated.code).toBe(0);
    expect(rotated.json).toMatchObject({ resealed: { providerKeys: 1 } });
    const sealedAfter = await sealedKeys();
    expect(sealedAfter[0]).not.toBe(sealedBefore[0]);
    expect(sealedAfter[0]!.split('.')[1]).not.toBe(sealedBefore[0]!.split('.')[1]);

    const again = await cli(['keys:rotate'], {
      ENCRYPTION_KEY: NEW_KEY,
      ENCRYPTION_KEYS_OLD: OLD_KEY,
    });
    expect(again.json).toMatchObject({ resealed: { providerKeys: 0, customModels: 0 } });
  });

  it('fails with a message on stderr and a non-zero exit for bad input', async () => {
    const [missing, badAmount, unknownUser, unknownFlag, unknownCommand, badKind, twice] =
      await Promise.all([
        cli(['grant:mint', '--user', userId]),
        cli(['grant:mint', '--user', userId, '--amount', 'lots']),
        cli(['balance', '--user', 'usr_nobody']),
        cli(['user:create', '--name', 'x', '--admin', 'yes']),
        cli(['users:nuke']),
        cli(['history', '--user', userId, '--kind', 'mint,bogus']),
        cli(['grant:mint', '--user', userId, '--amount', '1', '--amount=2']),
      ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--amount/);
    expect(badAmount.code).not.toBe(0);
    expect(badAmount.stdout).toBe('');
    expect(unknownUser.code).not.toBe(0);
    expect(unknownUser.stderr).toMatch(/not_found/);
    expect(unknownFlag.code).not.toBe(0);
    expect(unknownCommand.code).toBe(2);
    expect(badKind.code).toBe(1);
    expect(badKind.stderr).toMatch(/--kind item 2: /);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/--amount is given more than once/);
    expect(twice.stdout).toBe('');
  });

  async function sealedKeys(): Promise<string[]> {
    const client = new pg.Client({ connectionString: stack.databases.gateway });
    await client.connect();
    try {
      const { rows } = await client.query<{ sealed_key: string }>(
        'SELECT sealed_key FROM provider_keys ORDER BY id',
      );
      return rows.map((row) => row.sealed_key);
    } finally {
      await client.end();
    }
  }
});
