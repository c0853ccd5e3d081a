import {
  decodeStreamEntry,
  encodeChunks,
  encodeStreamEvent,
  redisKeys,
  type StreamEvent,
} from '@creditgate/contracts';
import type { Redis } from 'ioredis';

/** Writes in flight to Redis per request before the relay waits for them. */
const MAX_UNFLUSHED = 128;

/**
 * How long a writer that holds its chunks back (a client that reads no stream) holds them at
 * most. Well under the gateway's stream timeout, so a long answer still shows the gateway that
 * it is alive, and a worker that dies mid-answer leaves what it had in the stream.
 */
const HOLD_BACK_MS = 1_000;

export interface WriterOptions {
  /**
   * Keep chunks until the terminal event (or HOLD_BACK_MS) instead of writing them as they
   * come: for a client that waits for the whole answer, the gateway then reads it in one go.
   */
  holdBack?: boolean;
}

/**
 * Writes a request's events to its Redis stream (see encodeChunks for the layout). Chunks that
 * arrive in the same turn of the event loop (one upstream read) share one entry: one XADD
 * instead of one per token, and one wake-up of the gateway's read. The key expires a while
 * after the last write so nothing about a request lingers; the expiry is refreshed as the
 * stream grows rather than on every write.
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
   * A writer bound to one request. Entries are appended without waiting for Redis's answer (one
   * connection answers in order, so the stream keeps their order); `publish` and `flush` wait
   * for everything written so far. Awaiting each write would cost a round trip per token.
   */
  writer(requestId: string, options: WriterOptions = {}): EventWriter {
    const key = this.keys.events(requestId);
    let expiresAt = 0;
    // Writes sent since the last flush, each settled with its failure recorded.
    let outstanding: Promise<void>[] = [];
    // Writes Redis has not answered yet.
    let unanswered = 0;
    let failure: unknown = null;
    let pending: string[] = [];
    let pendingSince = 0;
    let scheduled = false;

    const send = (entries: [string, string][], terminal: boolean) => {
      const now = this.now();
      const track = (command: Promise<unknown>) => {
        unanswered += 1;
        outstanding.push(
          command.then(
            () => {
              unanswered -= 1;
            },
            (error: unknown) => {
              unanswered -= 1;
              failure ??= error;
            },
          ),
        );
      };
      if (entries.length === 1 || unanswered > 0) {
        // Plain commands keep their order on the connection, auto-pipelined or not.
        for (const fields of entries) track(this.redis.xadd(key, '*', ...fields));
      } else {
        // One transaction: Redis answers a blocked read once it has run, so the gateway gets
        // every entry (the last chunks and the terminal event) in one read. Only when all of
        // this stream's earlier writes are answered: a transaction goes to the socket at once,
        // ahead of commands still waiting in the connection's auto-pipeline, and an entry
        // written after the terminal event would never be read.
        const transaction = this.redis.multi();
        for (const fields of entries) transaction.xadd(key, '*', ...fields);
        track(transaction.exec().then(failedCommand));
      }
      if (terminal || now > expiresAt - (this.ttlMs * 2) / 3) {
        track(this.redis.pexpire(key, this.ttlMs));
        expiresAt = now + this.ttlMs;
      }
    };
    const writePending = () => {
      scheduled = false;
      if (pending.length === 0) return;
      const chunks = pending;
      pending = [];
      send([encodeChunks(chunks)], false);
    };
    const flush = async () => {
      writePending();
      const writes = outstanding;
      outstanding = [];
      await Promise.all(writes);
      if (failure) throw failure;
    };

    return {
      discardChunks: async () => {
        await flush();
        await this.redis.xtrim(key, 'MAXLEN', 1);
      },
      append: async (event) => {
        if (event.type !== 'chunk') {
          writePending();
          send([encodeStreamEvent(event)], false);
        } else if (options.holdBack) {
          if (pending.length === 0) pendingSince = this.now();
          pending.push(event.data);
          if (this.now() - pendingSince >= HOLD_BACK_MS) writePending();
        } else {
          pending.push(event.data);
          if (!scheduled) {
            scheduled = true;
            // After the pending I/O callbacks of this turn: every chunk of one upstream read
            // is in by then, and nothing waits on a timer.
            setImmediate(writePending);
          }
        }
        // Bounded: a Redis that falls behind slows the upstream read instead of growing memory.
        if (outstanding.length >= MAX_UNFLUSHED) await flush();
      },
      publish: async (event) => {
        const entries = pending.length > 0 ? [encodeChunks(pending)] : [];
        pending = [];
        entries.push(encodeStreamEvent(event));
        send(entries, event.type !== 'chunk');
        await flush();
      },
      flush,
    };
  }

  /**
   * What a request's stream already holds: the chunk payloads, and the terminal event (`end` or
   * `error`) if one was written. Used on (re)delivery to never run an answer twice.
   */
  async history(requestId: string): Promise<{ chunks: string[]; terminal: StreamEvent | null }> {
    const entries = await this.redis.xrange(this.keys.events(requestId), '-', '+');
    const chunks: string[] = [];
    let terminal: StreamEvent | null = null;
    for (const [, fields] of entries) {
      for (const event of decodeStreamEntry(fields)) {
        if (event.type === 'chunk') chunks.push(event.data);
        else terminal ??= event;
      }
    }
    return { chunks, terminal };
  }
}

/** A transaction's answer: the first command that failed in it fails the whole write. */
function failedCommand(results: [Error | null, unknown][] | null): void {
  if (results === null) throw new Error('the stream write was discarded');
  const failed = results.find(([error]) => error !== null);
  if (failed) throw failed[0];
}

export interface EventWriter {
  /** Queues an event; resolves at once unless too many are unanswered. */
  append(event: StreamEvent): Promise<void>;
  /** Writes an event and waits until it and everything before it is stored. */
  publish(event: StreamEvent): Promise<void>;
  /** Writes what is held back and waits until everything is stored. */
  flush(): Promise<void>;
  /**
   * Drops everything but the last event (the terminal one): for an answer nobody will read,
   * so the completion text does not wait in Redis for the key to expire.
   */
  discardChunks(): Promise<void>;
}
