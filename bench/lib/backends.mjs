// Counters of the shared backends, to tell how many Redis commands and Postgres transactions one
// request costs. Both are server-wide, so another client of the same servers inflates them.

import { Redis } from 'ioredis';
import pg from 'pg';

/** Calls per Redis command so far (`INFO commandstats`). */
export async function redisCommandCounts(redis) {
  const text = await redis.info('commandstats');
  const counts = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts[match[1]] = Number(match[2]);
  }
  return counts;
}

/** Connections Redis has accepted so far (`INFO stats`), with the command counts. */
export async function redisCounters(redis) {
  const [commands, stats] = await Promise.all([redisCommandCounts(redis), redis.info('stats')]);
  const connections = Number(/^total_connections_received:(\d+)/m.exec(stats)?.[1] ?? 0);
  return { ...commands, '(connections)': connections };
}

export function diffCounts(before, after) {
  const out = {};
  for (const [name, calls] of Object.entries(after)) {
    const delta = calls - (before[name] ?? 0);
    if (delta > 0) out[name] = delta;
  }
  return out;
}

export function openRedis(url) {
  return new Redis(url, { maxRetriesPerRequest: 1 });
}

/** Committed + rolled back transactions per database, from `pg_stat_database`. */
export async function pgTransactions(adminUrl, names) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      'SELECT datname, xact_commit + xact_rollback AS xacts FROM pg_stat_database WHERE datname = ANY($1)',
      [names],
    );
    return Object.fromEntries(rows.map((row) => [row.datname, Number(row.xacts)]));
  } finally {
    await client.end();
  }
}
