import type { Logger } from '@creditgate/runtime';
import type { Redis } from 'ioredis';

/** How long read streams' chunks may wait to be dropped, so many requests' drops share a write. */
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
  /** Writes sent and not yet answered. */
  private sending = new Set<Promise<void>>();

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {}

  trim(key: string): void {
    this.keys.push(key);
    this.timer ??= setTimeout(() => void this.flush(), TRIM_EVERY_MS);
  }

  /** Sends what is gathered and waits for every write sent: at shutdown, before Redis closes. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.keys.length > 0) {
      const write = this.send(this.keys);
      this.keys = [];
      this.sending.add(write);
      void write.finally(() => this.sending.delete(write));
    }
    await Promise.all(this.sending);
  }

  private async send(keys: string[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.xtrim(key, 'MAXLEN', 1);
    let errors: unknown[];
    try {
      const results = (await pipeline.exec()) ?? [];
      errors = results.flatMap(([error]) => (error ? [error] : []));
    } catch (error) {
      errors = keys.map(() => error);
    }
    if (errors.length > 0) {
      this.log.warn(
        { err: errors[0], failed: errors.length },
        'could not drop the read chunks of requests',
      );
    }
  }
}
