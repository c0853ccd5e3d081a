import { AppError, redisKeys, type StreamEvent } from '@creditgate/contracts';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { GatewayDeps } from '../deps.js';
import { cancelRequest } from '../requests/cancel.js';
import { readEvents } from './read-events.js';

/** Why a stream was cut short by our side; the reason is passed on to billing and the worker. */
export class StreamAborted extends Error {
  constructor(readonly reason: 'client_disconnected' | 'shutdown') {
    super(reason === 'shutdown' ? 'the gateway is shutting down' : 'the client disconnected');
  }
}

export interface RequestStream {
  /** The events one at a time. Read either `events` or `batches`, not both. */
  events: AsyncGenerator<StreamEvent, void, undefined>;
  /** The events as they arrive together (see readEvents): for relays that write in bulk. */
  batches: AsyncGenerator<StreamEvent[], void, undefined>;
  /** Aborted when the stream is cut short from our side. */
  signal: AbortSignal;
  /** Ends the stream from our side (client gone, shutdown); the request is cancelled upstream. */
  abort(reason: StreamAborted): void;
  /** Must be called once the caller is done with `events`, however it ended. */
  finish(): void;
}

/**
 * The events of one enqueued request, wired to cancellation: aborting (client gone, shutdown
 * deadline) or a stream timeout cancels the request, so the worker stops and billing settles
 * or voids. The stream key is the worker's to expire: it reads it again on redelivery. Once
 * the terminal event was read, the chunks (the completion text) are dropped from Redis (see
 * ReadStreamTrimmer); the terminal event stays until the key expires, since it is what tells a
 * redelivered job that the request already ran.
 */
export function openRequestStream(
  deps: GatewayDeps,
  requestId: string,
  log: Logger,
): RequestStream {
  const key = redisKeys(deps.env.QUEUE_PREFIX).events(requestId);
  const tracked = deps.inFlight.track();
  deps.metrics.openStreams.inc();

  let cancelling: Promise<void> | undefined;
  const cancel = (reason: string) => {
    if (!cancelling) {
      cancelling = cancelRequest(deps, requestId, reason, log);
      deps.inFlight.trackCancellation(cancelling);
    }
    return cancelling;
  };
  tracked.signal.addEventListener('abort', () => {
    const reason = tracked.signal.reason;
    void cancel(reason instanceof StreamAborted ? reason.reason : 'aborted');
  });

  let ended = false;
  async function* batches(): AsyncGenerator<StreamEvent[], void, undefined> {
    try {
      for await (const batch of readEvents(deps.streams, key, {
        signal: tracked.signal,
        idleTimeoutMs: deps.env.STREAM_TIMEOUT_MS,
      })) {
        if (batch[batch.length - 1]!.type !== 'chunk') ended = true;
        yield batch;
      }
    } catch (error) {
      // The caller hears of the timeout only once the request is withdrawn or told to stop.
      if (error instanceof AppError && error.code === 'upstream_timeout') {
        await cancel('stream_timeout');
      }
      throw error;
    }
  }

  async function* events(): AsyncGenerator<StreamEvent, void, undefined> {
    for await (const batch of batches()) yield* batch;
  }

  let finished = false;
  return {
    events: events(),
    batches: batches(),
    signal: tracked.signal,
    abort: (reason) => tracked.controller.abort(reason),
    finish() {
      if (finished) return;
      finished = true;
      if (ended) deps.trimmer.trim(key);
      tracked.done();
      deps.metrics.openStreams.dec();
    },
  };
}
