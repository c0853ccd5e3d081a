import {
  encodeStreamEvent,
  INFERENCE_QUEUE,
  redisKeys,
  type InferenceJob,
  type StreamEvent,
} from '@creditgate/contracts';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * Plays the inference worker's side of the contract for gateway tests: takes jobs from the
 * queue, writes the events a script returns to the request's stream, and keeps a heartbeat.
 * The real worker is exercised end to end in the e2e suite.
 */
export interface StandInOptions {
  redisUrl: string;
  prefix: string;
  /** The events to write for a job, in order; a `pause` resolves before the next event. */
  script: (job: InferenceJob) => Array<StreamEvent | { pause: Promise<unknown> }>;
}

export function chunkEvent(requestId: string, delta: object, finishReason: string | null = null) {
  return {
    type: 'chunk' as const,
    data: JSON.stringify({
      id: requestId,
      object: 'chat.completion.chunk',
      created: 1,
      model: 'stand-in',
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    }),
  };
}

export async function startStandInWorker(options: StandInOptions) {
  const keys = redisKeys(options.prefix);
  const writer = new Redis(options.redisUrl);
  const cancels = new Redis(options.redisUrl);
  const cancelled: string[] = [];
  const cancelWaiters = new Map<string, () => void>();
  const jobs: InferenceJob[] = [];

  await cancels.subscribe(keys.cancelChannel);
  cancels.on('message', (_channel, requestId: string) => {
    cancelled.push(requestId);
    cancelWaiters.get(requestId)?.();
  });

  const heartbeat = keys.workerHeartbeat('stand-in');
  await writer.set(heartbeat, '1', 'PX', 60_000);

  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker<InferenceJob>(
    INFERENCE_QUEUE,
    async (job) => {
      jobs.push(job.data);
      for (const step of options.script(job.data)) {
        if ('pause' in step) await step.pause;
        else await writer.xadd(keys.events(job.data.requestId), '*', ...encodeStreamEvent(step));
      }
    },
    { connection, prefix: keys.bullPrefix, concurrency: 20 },
  );
  await worker.waitUntilReady();

  return {
    jobs,
    cancelled,
    /** Resolves when the gateway publishes a cancel for `requestId`. */
    cancelOf(requestId: string) {
      if (cancelled.includes(requestId)) return Promise.resolve();
      return new Promise<void>((resolve) => cancelWaiters.set(requestId, resolve));
    },
    async close() {
      await worker.close(true);
      await writer.del(heartbeat);
      writer.disconnect();
      connection.disconnect();
      cancels.disconnect();
    },
  };
}
