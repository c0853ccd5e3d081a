import { AppError, decodeStreamEntry, type StreamEvent } from '@creditgate/contracts';
import type { BlockingConnectionPool } from './blocking-pool.js';

export interface ReadEventsOptions {
  /** Aborting disconnects the blocked read at once (client gone, shutdown deadline). */
  signal: AbortSignal;
  /** Longest wait for the next event before the request counts as timed out. */
  idleTimeoutMs: number;
  now?: () => number;
}

/**
 * Reads a request's event stream, written by the worker, from its first entry: `chunk` events
 * until one `end` or `error`, which closes the iteration. Reading from id 0 means no event is
 * lost when the worker starts writing before the gateway starts reading.
 *
 * Yields the events of one read together (never empty, in order, the terminal event last), so
 * a relay can write all that has arrived at once: one socket write instead of one per token.
 */
export async function* readEvents(
  pool: BlockingConnectionPool,
  key: string,
  options: ReadEventsOptions,
): AsyncGenerator<StreamEvent[], void, undefined> {
  const now = options.now ?? Date.now;
  const { signal } = options;
  signal.throwIfAborted();

  const conn = await pool.acquire();
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    pool.discard(conn);
  };
  signal.addEventListener('abort', onAbort, { once: true });

  try {
    let lastId = '0';
    let deadline = now() + options.idleTimeoutMs;
    for (;;) {
      const wait = deadline - now();
      if (wait <= 0) {
        throw new AppError(
          'upstream_timeout',
          `the model sent nothing for ${options.idleTimeoutMs} ms; the request was cancelled`,
        );
      }

      const reply = await conn.xread('BLOCK', wait, 'STREAMS', key, lastId);
      signal.throwIfAborted();
      if (!reply) continue;

      const batch: StreamEvent[] = [];
      let terminal = false;
      for (const [, entries] of reply) {
        for (const [id, fields] of entries) {
          lastId = id;
          for (const event of decodeStreamEntry(fields)) {
            batch.push(event);
            if (event.type !== 'chunk') {
              terminal = true;
              break;
            }
          }
          if (terminal) break;
        }
      }
      if (batch.length > 0) yield batch;
      if (terminal) return;
      deadline = now() + options.idleTimeoutMs;
    }
  } catch (error) {
    interrupted = true;
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!signal.aborted) pool.release(conn, !interrupted);
  }
}
