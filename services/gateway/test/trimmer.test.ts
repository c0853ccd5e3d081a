import { createLogger } from '@creditgate/runtime';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedis } from '../../../test/support/backends.js';
import { ReadStreamTrimmer } from '../src/streaming/trimmer.js';

let redis: Redis;
let prefix: string;
const lines: string[] = [];
const logger = createLogger({
  service: 'gateway',
  level: 'warn',
  pretty: false,
  destination: { write: (line: string) => void lines.push(line) },
});

beforeAll(() => {
  const backend = testRedis();
  prefix = backend.prefix;
  redis = new Redis(backend.url);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

async function stream(name: string, entries: number): Promise<string> {
  const key = `${prefix}:${name}`;
  for (let i = 0; i < entries; i++) await redis.xadd(key, '*', 'n', String(i));
  return key;
}

describe('read stream trimmer', () => {
  it('keeps only the last entry of every stream it was given, once its window has passed', async () => {
    const trimmer = new ReadStreamTrimmer(redis, logger);
    const keys = [await stream('a', 3), await stream('b', 1), await stream('c', 5)];
    for (const key of keys) trimmer.trim(key);
    expect(await redis.xlen(keys[0]!)).toBe(3);

    await expect.poll(() => redis.xlen(keys[2]!)).toBe(1);
    for (const [key, last] of [
      [keys[0]!, '2'],
      [keys[1]!, '0'],
      [keys[2]!, '4'],
    ] as const) {
      const entries = await redis.xrange(key, '-', '+');
      expect(entries.map(([, fields]) => fields)).toEqual([['n', last]]);
    }
  });

  it('trims the others and warns when one of them cannot be trimmed', async () => {
    const trimmer = new ReadStreamTrimmer(redis, logger);
    const notAStream = `${prefix}:plain`;
    await redis.set(notAStream, 'x');
    const key = await stream('d', 4);
    trimmer.trim(notAStream);
    trimmer.trim(key);
    await trimmer.flush();

    expect(await redis.xlen(key)).toBe(1);
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(
      expect.objectContaining({
        msg: 'could not drop the read chunks of requests',
        failed: 1,
        err: expect.objectContaining({ message: expect.stringMatching(/WRONGTYPE/) }),
      }),
    );
  });

  it('waits at shutdown for drops it had already sent', async () => {
    const trimmer = new ReadStreamTrimmer(redis, logger);
    const notAStream = `${prefix}:plain-at-shutdown`;
    await redis.set(notAStream, 'x');
    trimmer.trim(notAStream);
    // The first flush sends; a shutdown flush right after must return only once Redis answered
    // that write, which its warning shows.
    const sent = trimmer.flush();
    const logged = lines.length;
    await trimmer.flush();
    expect(lines.length).toBe(logged + 1);
    await sent;
  });
});
