import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * A fresh database cloned from the run's migrated template for `service`. Call `drop()` in
 * afterAll; the run's teardown drops anything left behind.
 */
export async function createTestDatabase(service: 'billing' | 'gateway') {
  const adminUrl = inject('pgAdminUrl');
  const template = inject('templates')[service];
  const name = `cg_t_${inject('runId')}_${service}_${randomBytes(4).toString('hex')}`;

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  await admin.end();

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Redis URL of the run and a key prefix of this test file's own. */
export function testRedis() {
  return {
    url: inject('redisUrl'),
    prefix: `cgtest:${inject('runId')}:${randomBytes(4).toString('hex')}`,
  };
}
