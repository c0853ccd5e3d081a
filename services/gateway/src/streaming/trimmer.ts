import type { Logger } from '@creditgate/runtime';
import type { Redis } from 'ioredis';

/** How long a read stream's chunks may wait to be dropped, so drops of many requests share a write. */
const TRIM_EVERY_MS = 50;

/**
 * Drops the chunks (the completion text) of event streams that were read to their end, keeping
 * the last entry, the terminal event, which tells a redelivered job that its request already
 * ran. Drops are gathered for TRIM_EVERY_MS and sent in one pipelined write: on a quiet gateway
 * that is one write for many requests instead of a command, and a Redis wake-up, after each.
 */
export class ReadStreamTrimmer {
  private keys: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {}

  trim(key: string): void {
    this.keys.push(key);
    this.timer ??= setTimeout(() => void this.flush(), TRIM_EVERY_MS);
  }

  /** Sends what is gathered now; at shutdown, before the Redis connection closes. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const keys = this.keys;
    this.keys = [];
    if (keys.length === 0) return;

    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.xtrim(key, 'MAXLEN', 1);
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.filter(([error]) => error !== null).length;
      if (failed > 0) this.log.warn({ failed }, 'could not drop the read chunks of some requests');
    } catch (err) {
      this.log.warn({ err, requests: keys.length }, 'could not drop the read chunks of requests');
    }
  }
}
