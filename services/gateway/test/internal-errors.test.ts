import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../../test/support/stack.js';

/**
 * When our own side fails (a database error in the gateway, a 500 in billing), callers get a
 * stable code and a plain message: no stack trace, SQL, table name, file path or internal
 * address, on /v1 and on /trpc alike. Run in production mode, as deployed.
 */
let stack: Stack;
let apiKey: string;

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { NODE_ENV: 'production' } });
  ({ apiKey } = await stack.createUser('unlucky'));
});
afterAll(async () => {
  await stack?.close();
});

/** What an internal failure must never show. */
const INTERNALS =
  /\bat [\w.<>]+ \(|node_modules|\/work\/|\.ts:\d|\.js:\d|relation|api_keys|accounts|SELECT|127\.0\.0\.1|localhost|:5432|:6379|postgres|prisma|stack/i;

async function call(path: string, init: RequestInit = {}) {
  const response = await fetch(`${stack.gateway.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${apiKey}`, ...init.headers },
  });
  return { status: response.status, text: await response.text() };
}

describe('internal failures', () => {
  it("a failing billing database shows as 503 with no detail of billing's internals", async () => {
    const billingDb = new pg.Client({ connectionString: stack.databases.billing });
    await billingDb.connect();
    await billingDb.query('ALTER TABLE accounts RENAME TO accounts_gone');
    try {
      const { status, text } = await call('/trpc/credits.balance');
      expect(status).toBe(503);
      expect(JSON.parse(text)).toMatchObject({
        error: { message: 'billing is unavailable, try again shortly' },
      });
      expect(text).not.toMatch(INTERNALS);
    } finally {
      await billingDb.query('ALTER TABLE accounts_gone RENAME TO accounts');
      await billingDb.end();
    }
  });

  it('a failing gateway database shows as 500 internal_error, nothing more', async () => {
    await stack.gateway.deps.prisma.$executeRawUnsafe('ALTER TABLE api_keys RENAME TO keys_gone');
    const responses = [
      await call('/v1/models'),
      await call('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      }),
      await call('/trpc/models.list'),
      await call('/trpc/keys.list,credits.balance?batch=1&input={}'),
    ];
    for (const { status, text } of responses) {
      expect(status).toBe(500);
      expect(text).toContain('internal_error');
      expect(text).not.toMatch(INTERNALS);
    }
  });
});
