import {
  decodeStreamEvent,
  encodeStreamEvent,
  redisKeys,
  type StreamEvent,
} from '@creditgate/contracts';
import type { Redis } from 'ioredis';

/** Chunks in flight to Redis per request before the relay waits for them. */
const MAX_UNFLUSHED = 128;

/**
 * Writes a request's events to its Redis stream, one entry per event (see encodeStreamEvent). The key expires
 * a while after the last write so nothing about a request lingers; the expiry is refreshed as
 * the stream grows rather than on every chunk, which halves the commands on the hot path.
 */
export class EventPublisher {
  private readonly keys: ReturnType<typeof redisKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = redisKeys(prefix);
  }

  /**
   * A writer bound to one request. Chunks are appended without waiting for Redis's answer (one
   * connection answers in order, so the stream keeps their order); `publish` and `flush` wait
   * for everything written so far. Awaiting each chunk would cost a round trip per token.
   */
  writer(requestId: string): EventWriter {
    const key = this.keys.events(requestId);
    let expiresAt = 0;
    let last: Promise<unknown> = Promise.resolve();
    let unflushed = 0;
    let failure: unknown = null;

    const write = (event: StreamEvent) => {
      const now = this.now();
      const terminal = event.type !== 'chunk';
      const track = (command: Promise<unknown>) => {
        command.catch((error: unknown) => (failure ??= error));
        last = command;
      };
      track(this.redis.xadd(key, '*', ...encodeStreamEvent(event)));
      if (terminal || now > expiresAt - (this.ttlMs * 2) / 3) {
        track(this.redis.pexpire(key, this.ttlMs));
        expiresAt = now + this.ttlMs;
      }
      unflushed += 1;
    };
    const flush = async () => {
      await last.catch(() => undefined);
      unflushed = 0;
      if (failure) throw failure;
    };

    return {
      discardChunks: async () => {
        await flush();
        await this.redis.xtrim(key, 'MAXLEN', 1);
      },
      append: async (event) => {
        write(event);
        // Bounded: a Redis that falls behind slows the upstream read instead of growing memory.
        if (unflushed >= MAX_UNFLUSHED) await flush();
      },
      publish: async (event) => {
        write(event);
        await flush();
      },
      flush,
    };
  }

  /**
   * What a request's stream already holds: the chunk payloads, and whether a terminal event
   * (`end` or `error`) was written. Used on (re)delivery to never run an answer twice.
   */
  async history(requestId: string): Promise<{ chunks: string[]; terminal: boolean }> {
    const entries = await this.redis.xrange(this.keys.events(requestId), '-', '+');
    const chunks: string[] = [];
    let terminal = false;
    for (const [, fields] of entries) {
      const event = decodeStreamEvent(fields);
      if (event.type === 'chunk') chunks.push(event.data);
      else terminal = true;
    }
    return { chunks, terminal };
  }
}

export interface EventWriter {
  /** Queues an event; resolves at once unless too many are unanswered. */
  append(event: StreamEvent): Promise<void>;
  /** Writes an event and waits until it and everything before it is stored. */
  publish(event: StreamEvent): Promise<void>;
  flush(): Promise<void>;
  /**
   * Drops everything but the last event (the terminal one): for an answer nobody will read,
   * so the completion text does not wait in Redis for the key to expire.
   */
  discardChunks(): Promise<void>;
}
