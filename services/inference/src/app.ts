import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { INFERENCE_QUEUE, redisKeys, REQUEST_ID_RE, retainedJob } from '@creditgate/contracts';
import { createKeyring, createLogger, type Logger, type Resolver } from '@creditgate/runtime';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createBillingClient, type BillingClient } from './billing-client.js';
import type { InferenceEnv } from './env.js';
import { buildHttpServer } from './http.js';
import { Cancellations } from './jobs/cancellations.js';
import { processJob, type JobContext } from './jobs/process-job.js';
import { createInferenceMetrics } from './metrics.js';
import { UpstreamFactory } from './routes/index.js';
import { EventPublisher } from './streaming/publisher.js';

/** Event streams outlive their request by this much, then Redis drops them. */
const EVENTS_TTL_MS = 5 * 60_000;
const HEARTBEAT_TTL_MS = 15_000;
const HEARTBEAT_EVERY_MS = 5_000;

export interface InferenceOptions {
  logger?: Logger;
  /** Injected in tests so custom endpoint names can resolve to chosen addresses. */
  resolve?: Resolver;
  workerId?: string;
  billing?: BillingClient;
}

export interface InferenceHandle {
  port: number;
  workerId: string;
  metrics: ReturnType<typeof createInferenceMetrics>;
  /**
   * Stops taking jobs and hands the ones that have streamed nothing back to the queue; the
   * others may finish within SHUTDOWN_GRACE_MS, then are aborted (settled as aborted).
   */
  close(): Promise<void>;
}

/**
 * Starts one worker process's worth of inference: the BullMQ worker, the cancel subscription,
 * the liveness heartbeat the gateway's /readyz looks for, and the health/metrics server.
 */
export async function startInference(
  env: InferenceEnv,
  options: InferenceOptions = {},
): Promise<InferenceHandle> {
  const logger =
    options.logger ??
    createLogger({
      service: 'inference',
      level: env.LOG_LEVEL,
      pretty: env.NODE_ENV === 'development',
    });
  const workerId =
    options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = redisKeys(env.QUEUE_PREFIX);
  const metrics = createInferenceMetrics();

  // BullMQ requires maxRetriesPerRequest: null: commands wait out a Redis restart instead of
  // failing, so a worker never silently stops. Auto-pipelining batches the many small XADDs of
  // concurrent streams into few round trips.
  const redisOptions = { maxRetriesPerRequest: null } as const;
  const redis = new Redis(env.REDIS_URL, { ...redisOptions, enableAutoPipelining: true });
  const subscriber = new Redis(env.REDIS_URL, redisOptions);
  const bullConnection = new Redis(env.REDIS_URL, redisOptions);
  for (const [name, connection] of [
    ['commands', redis],
    ['subscriber', subscriber],
    ['queue', bullConnection],
  ] as const) {
    connection.on('error', (err) =>
      logger.warn({ err, connection: name }, 'redis connection error'),
    );
  }

  const cancellations = new Cancellations();
  const ctx: JobContext = {
    env,
    logger,
    publisher: new EventPublisher(redis, env.QUEUE_PREFIX, EVENTS_TTL_MS),
    billing: options.billing ?? createBillingClient(env.BILLING_URL, env.SERVICE_TOKEN),
    upstreams: new UpstreamFactory(
      env,
      createKeyring(env.ENCRYPTION_KEY, env.ENCRYPTION_KEYS_OLD),
      {
        resolve: options.resolve,
      },
    ),
    cancellations,
    metrics,
  };

  subscriber.on('message', (_channel: string, requestId: string) =>
    cancellations.cancel(requestId),
  );
  await subscriber.subscribe(keys.cancelChannel);

  const worker = new Worker(
    INFERENCE_QUEUE,
    (job: Job, token?: string) => runJob(ctx, job, token),
    {
      connection: bullConnection,
      prefix: keys.bullPrefix,
      concurrency: env.WORKER_CONCURRENCY,
      // The payload holds the prompt (and sealed secrets): nothing stays once the job is done.
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
      lockDuration: env.WORKER_LOCK_DURATION_MS,
      stalledInterval: env.WORKER_STALLED_INTERVAL_MS,
      // A job whose worker died is delivered once more; the redelivery never re-runs an answer
      // that already streamed (see processJob), it settles it.
      maxStalledCount: 1,
    },
  );
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  worker.on('failed', (job, err) => {
    logger.error({ err, jobId: job?.id }, 'job failed');
    // Failures the processor never saw (a job stalled too often) are stripped here.
    if (job) void stripJob(job, logger);
  });
  worker.on('stalled', (jobId) =>
    logger.warn({ jobId }, 'job stalled; it will be delivered again'),
  );

  const heartbeatKey = keys.workerHeartbeat(workerId);
  const beat = () => redis.set(heartbeatKey, String(Date.now()), 'PX', HEARTBEAT_TTL_MS);
  await beat();
  const heartbeat = setInterval(() => {
    beat().catch((err: unknown) => logger.warn({ err }, 'heartbeat failed'));
  }, HEARTBEAT_EVERY_MS);
  heartbeat.unref();

  let closing: Promise<void> | null = null;
  const http = buildHttpServer(
    metrics,
    { ready: async () => !closing && worker.isRunning() && (await redis.ping()) === 'PONG' },
    { serviceToken: env.SERVICE_TOKEN, metricsToken: env.METRICS_TOKEN },
  );
  await http.listen({ port: env.INFERENCE_PORT, host: env.INFERENCE_HOST });
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : env.INFERENCE_PORT;
  logger.info({ port, workerId, concurrency: env.WORKER_CONCURRENCY }, 'inference worker started');

  const shutdown = async () => {
    // Closing first: the worker fetches nothing more, so a job handed back below goes to
    // another worker. A fetch already in flight may still bring one here once; it is handed
    // back again at once, before any upstream call (see Cancellations.register).
    const closed = worker.close();
    const { handedBack, streaming } = cancellations.drain();
    logger.info(
      { handedBack, streaming, graceMs: env.SHUTDOWN_GRACE_MS },
      'worker stopping: no new jobs; jobs that streamed nothing go back to the queue',
    );
    clearInterval(heartbeat);
    await redis.del(heartbeatKey).catch(() => undefined);

    const grace = setTimeout(() => {
      logger.warn({ active: cancellations.size }, 'shutdown grace over; aborting active jobs');
      cancellations.abortAll();
    }, env.SHUTDOWN_GRACE_MS);
    await closed;
    clearTimeout(grace);

    await http.close();
    await Promise.all([subscriber.quit(), bullConnection.quit()]);
    await redis.quit();
    logger.info('worker stopped');
  };

  return {
    port,
    workerId,
    metrics,
    close: () => (closing ??= shutdown()),
  };
}

/**
 * A failed job may stay in Redis for a while (JOB_RETENTION); its prompt and sealed secrets
 * must not. Stripping a job that is already gone (removed at once) is a no-op.
 */
async function stripJob(job: Job, logger: Logger): Promise<void> {
  if ((job.data as { redacted?: unknown } | undefined)?.redacted === true) return;
  try {
    await job.updateData(retainedJob(job.data));
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('Missing key for job')) return;
    logger.error({ err, jobId: job.id }, 'could not strip the payload of a failed job');
  }
}

/**
 * The BullMQ processor. processJob decides every outcome it understands; anything else is a
 * defect: it is logged, the client is told, and the job fails for good (no BullMQ retry, which
 * could run the answer twice). The request's hold is then released by billing's expiry sweep.
 *
 * A job handed back at shutdown is moved to the waiting list under this worker's lock token, at
 * the end workers take from, so it runs next; WaitingError tells BullMQ the move is done. Should
 * the move fail, the lock expires and the stalled-job check delivers it again, which is just as
 * safe: nothing was streamed.
 */
async function runJob(ctx: JobContext, job: Job, token: string | undefined) {
  let result;
  try {
    result = await processJob(ctx, job);
  } catch (err) {
    ctx.logger.error({ err, jobId: job.id }, 'job crashed');
    await stripJob(job, ctx.logger);
    if (job.id && REQUEST_ID_RE.test(job.id)) {
      await ctx.publisher
        .writer(job.id)
        .publish({ type: 'error', code: 'internal_error', message: 'internal error' })
        .catch(() => undefined);
    }
    throw new UnrecoverableError('job crashed');
  }

  if (result.outcome === 'handed_back') {
    await job.moveToWait(token).catch((err: unknown) => {
      ctx.logger.warn(
        { err, jobId: job.id },
        'could not hand the job back; it returns to the queue when its lock expires',
      );
    });
    throw new WaitingError();
  }
  return result;
}
