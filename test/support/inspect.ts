import { EventEmitter, once } from 'node:events';
import {
  decodeStreamEntry,
  INFERENCE_QUEUE,
  redisKeys,
  type StreamEvent,
} from '@creditgate/contracts';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

/*
 * Reading what a running stack wrote: a request's worker events, and every Redis value and
 * database row under a test's own prefix and databases (for leak checks and cleanup).
 */

export interface ReadEventsOptions {
  /** Stop once this holds; by default, at the terminal event (`end` or `error`). */
  until?: (events: StreamEvent[]) => boolean;
  timeoutMs?: number;
}

/**
 * The events the inference worker wrote to a request's Redis stream, in order, blocking on
 * Redis until `until` holds. Fails after `timeoutMs` with what it read so far.
 */
export async function readWorkerEvents(
  redisUrl: string,
  prefix: string,
  requestId: string,
  options: ReadEventsOptions = {},
): Promise<StreamEvent[]> {
  const until = options.until ?? ((events) => events.some((event) => event.type !== 'chunk'));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const reader = new Redis(redisUrl);
  const key = redisKeys(prefix).events(requestId);
  const events: StreamEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  let cursor = '0';
  try {
    while (!until(events)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`events of ${requestId} after ${timeoutMs} ms: ${JSON.stringify(events)}`);
      }
      const reply = await reader.xread('BLOCK', left, 'STREAMS', key, cursor);
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          cursor = id;
          events.push(...decodeStreamEntry(fields));
        }
      }
    }
    return events;
  } finally {
    reader.disconnect();
  }
}

/** Every key under `prefix`, by SCAN (never a blocking KEYS). */
export async function scanKeys(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
    keys.push(...(batch as string[]));
  }
  return keys;
}

/** Every key under `prefix` with its value, whatever its type, one line each. */
export async function dumpRedis(redis: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await scanKeys(redis, prefix)) {
    parts.push(`${key} ${JSON.stringify(await readValue(redis, key))}`);
  }
  return parts.join('\n');
}

async function readValue(redis: Redis, key: string): Promise<unknown> {
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return redis.get(key);
    case 'hash':
      return redis.hgetall(key);
    case 'list':
      return redis.lrange(key, 0, -1);
    case 'set':
      return redis.smembers(key);
    case 'zset':
      return redis.zrange(key, 0, -1, 'WITHSCORES');
    case 'stream':
      return redis.xrange(key, '-', '+');
    default:
      return `(${type})`;
  }
}

/** Every row of every table of a database, as JSON text. */
export async function dumpDatabase(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
       WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    const dump: Record<string, unknown[]> = {};
    for (const { table_name: table } of tables) {
      const { rows } = await client.query<Record<string, unknown>>(`SELECT * FROM "${table}"`);
      // Byte columns as text, so a plaintext stored as bytes is still found.
      dump[table] = rows.map((row) =>
        Object.fromEntries(
          Object.entries(row).map(([name, value]) => [
            name,
            Buffer.isBuffer(value) ? value.toString('latin1') : value,
          ]),
        ),
      );
    }
    return JSON.stringify(dump);
  } finally {
    await client.end();
  }
}

/**
 * Jobs the inference workers are done with (completed or failed), from BullMQ's own events.
 * A worker settles after it writes a request's terminal event, so a test that checks billing or
 * the queue after an answer waits for the job, not for the answer alone.
 */
export async function watchFinishedJobs(redisUrl: string, prefix: string) {
  const queueEvents = new QueueEvents(INFERENCE_QUEUE, {
    connection: { url: redisUrl },
    prefix: redisKeys(prefix).bullPrefix,
  });
  await queueEvents.waitUntilReady();
  const finished = new Set<string>();
  const finishing = new EventEmitter();
  const onFinished = ({ jobId }: { jobId: string }) => {
    finished.add(jobId);
    finishing.emit(jobId);
  };
  queueEvents.on('completed', onFinished);
  queueEvents.on('failed', onFinished);

  return {
    /** Resolves once the job of `requestId` finished (at once if it already has). */
    async finished(requestId: string, timeoutMs = 15_000): Promise<void> {
      if (finished.has(requestId)) return;
      await once(finishing, requestId, { signal: AbortSignal.timeout(timeoutMs) });
    },
    close: () => queueEvents.close(),
  };
}
