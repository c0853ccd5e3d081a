import {
  INFERENCE_QUEUE,
  inferenceJobSchema,
  JOB_RETENTION,
  redisKeys,
  type InferenceJob,
} from '@creditgate/contracts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface InferenceQueue {
  /** Adds the job under its request id; a second add of the same id is a no-op in BullMQ. */
  enqueue(job: InferenceJob): Promise<void>;
  /**
   * Takes a job back while no worker holds it. True when it was removed (it will never run);
   * false when a worker already took it, finished it, or it never existed.
   */
  withdraw(requestId: string): Promise<boolean>;
  counts(): Promise<{ waiting: number; active: number; failed: number }>;
  close(): Promise<void>;
}

/**
 * The producer side of the inference queue. It shares the gateway's command connection, which
 * is set up to fail fast (no offline queue) so an unreachable Redis becomes a 503 at once
 * instead of a request that hangs until ioredis gives up.
 */
export function createInferenceQueue(connection: Redis, prefix: string): InferenceQueue {
  const queue = new Queue<InferenceJob>(INFERENCE_QUEUE, {
    connection,
    prefix: redisKeys(prefix).bullPrefix,
  });

  return {
    async enqueue(job) {
      // Parsed again so nothing but the contract's fields (sealed secrets only) reaches Redis.
      const payload = inferenceJobSchema.parse(job);
      await queue.add(INFERENCE_QUEUE, payload, {
        jobId: payload.requestId,
        ...JOB_RETENTION,
      });
    },
    async withdraw(requestId) {
      const job = await queue.getJob(requestId);
      if (!job) return false;
      const state = await job.getState();
      if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
      try {
        // Refused by BullMQ when a worker locked the job in the meantime.
        await job.remove();
        return true;
      } catch {
        return false;
      }
    },
    async counts() {
      const counts = await queue.getJobCounts('waiting', 'active', 'failed');
      return {
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        failed: counts.failed ?? 0,
      };
    },
    close: () => queue.close(),
  };
}
