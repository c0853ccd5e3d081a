import { decodeStreamEntry, type StreamEvent } from '@creditgate/contracts';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedis } from '../../../test/support/backends.js';
import { EventPublisher } from '../src/streaming/publisher.js';

let redis: Redis;
let publisher: EventPublisher;
let prefix: string;

beforeAll(() => {
  const backend = testRedis();
  prefix = backend.prefix;
  // As in the worker: commands of one turn share a write.
  redis = new Redis(backend.url, { enableAutoPipelining: true });
  publisher = new EventPublisher(redis, prefix, 60_000);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const chunk = (i: number): StreamEvent => ({
  type: 'chunk',
  data: JSON.stringify({ choices: [{ index: 0, delta: { content: `token ${i}\nnext line` } }] }),
});
const end: StreamEvent = {
  type: 'end',
  finishReason: 'stop',
  usage: { input: 1, output: 30, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, reasoning: 0 },
  usageEstimated: false,
  cost: '0.001',
};

async function entries(requestId: string) {
  return redis.xrange(`${prefix}:events:${requestId}`, '-', '+');
}

describe('event publisher', () => {
  it('writes the chunks of one turn of the event loop as one entry, in order', async () => {
    const writer = publisher.writer('req_publisher_turn');
    for (let i = 0; i < 30; i++) await writer.append(chunk(i));
    await writer.flush();

    const written = await entries('req_publisher_turn');
    expect(written).toHaveLength(1);
    expect(decodeStreamEntry(written[0]![1])).toEqual(
      Array.from({ length: 30 }, (_, i) => chunk(i)),
    );

    await writer.publish(end);
    const after = await entries('req_publisher_turn');
    expect(after).toHaveLength(2);
    expect(decodeStreamEntry(after[1]![1])).toEqual([end]);
  });

  it('writes chunks of later turns as later entries without being asked to flush', async () => {
    const writer = publisher.writer('req_publisher_turns');
    await writer.append(chunk(0));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await writer.append(chunk(1));
    await writer.publish(end);

    const written = await entries('req_publisher_turns');
    expect(written.map(([, fields]) => decodeStreamEntry(fields))).toEqual([
      [chunk(0)],
      [chunk(1)],
      [end],
    ]);
  });

  it('holds chunks back for a client that reads no stream, then writes them with the end', async () => {
    const writer = publisher.writer('req_publisher_held', { holdBack: true });
    for (let i = 0; i < 5; i++) {
      await writer.append(chunk(i));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(await entries('req_publisher_held')).toHaveLength(0);

    await writer.publish(end);
    const written = await entries('req_publisher_held');
    expect(written.map(([, fields]) => decodeStreamEntry(fields))).toEqual([
      Array.from({ length: 5 }, (_, i) => chunk(i)),
      [end],
    ]);
    expect(await publisher.history('req_publisher_held')).toEqual({
      chunks: Array.from({ length: 5 }, (_, i) => chunk(i).data),
      terminal: end,
    });
  });

  it('hands a waiting reader the last chunks and the end in one read', async () => {
    const key = `${prefix}:events:req_publisher_one_read`;
    const reader = new Redis(testRedis().url);
    try {
      const writer = publisher.writer('req_publisher_one_read', { holdBack: true });
      for (let i = 0; i < 3; i++) await writer.append(chunk(i));
      const readerId = await reader.client('ID');
      const read = reader.xread('BLOCK', 5_000, 'STREAMS', key, '0');
      // This reader is blocked on the server before anything is written.
      while (!/ flags=\S*b/.test(String(await redis.client('LIST', 'ID', readerId)))) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await writer.publish(end);

      const [[, got]] = (await read)!;
      expect(got.map(([, fields]) => decodeStreamEntry(fields))).toEqual([
        [chunk(0), chunk(1), chunk(2)],
        [end],
      ]);
    } finally {
      reader.disconnect();
    }
  });

  it('writes the end after every chunk, even when earlier chunks wait behind other commands', async () => {
    // A pipeline of other commands on the wire: the next commands wait in the connection's
    // auto-pipeline until it is answered, while a transaction would go out at once.
    void redis.ping();
    await new Promise((resolve) => setImmediate(resolve));
    const writer = publisher.writer('req_publisher_order');
    await writer.append(chunk(0));
    const firstWritten = writer.flush();
    await writer.append(chunk(1));
    await writer.publish(end);
    await firstWritten;

    const written = await entries('req_publisher_order');
    expect(written.map(([, fields]) => decodeStreamEntry(fields)).flat()).toEqual([
      chunk(0),
      chunk(1),
      end,
    ]);
  });

  it('fails the publish when Redis refuses the write', async () => {
    await redis.set(`${prefix}:events:req_publisher_wrong_type`, 'not a stream');
    const writer = publisher.writer('req_publisher_wrong_type', { holdBack: true });
    await writer.append(chunk(0));
    await expect(writer.publish(end)).rejects.toThrow(/WRONGTYPE/);
  });
});
