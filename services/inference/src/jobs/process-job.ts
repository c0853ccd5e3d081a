import { inferenceJobSchema, type InferenceJob, type StreamEvent } from '@creditgate/contracts';
import { SecretError, type Logger } from '@creditgate/runtime';
import type { Job } from 'bullmq';
import type { BillingClient } from '../billing-client.js';
import type { InferenceEnv } from '../env.js';
import type { InferenceMetrics } from '../metrics.js';
import { UpstreamFactory } from '../routes/index.js';
import type { ProviderLabel } from '../routes/types.js';
import type { EventPublisher, EventWriter } from '../streaming/publisher.js';
import { relay, type RelayResult } from '../streaming/relay.js';
import { resolveUsage } from '../streaming/usage.js';
import { classifyFailure, JobAbort } from '../upstream/errors.js';
import type { Cancellations } from './cancellations.js';
import { settleInterrupted } from './interrupted.js';
import { refuse, refuseInvalid } from './refuse.js';
import { routeMismatch } from './route-check.js';
import { settleRequest, type SettlementOptions } from './settlement.js';

export interface JobContext {
  env: InferenceEnv;
  logger: Logger;
  publisher: EventPublisher;
  billing: BillingClient;
  upstreams: UpstreamFactory;
  cancellations: Cancellations;
  metrics: InferenceMetrics;
  settlement?: SettlementOptions;
  random?: () => number;
}

/** How a job ended, as the job's BullMQ return value and the duration metric's label. */
export type JobOutcome =
  | 'complete'
  | 'aborted'
  | 'errored'
  | 'refused'
  | 'interrupted'
  | 'duplicate'
  | 'billing_failed'
  /** Shutdown began before anything was streamed: the job goes back to the queue, unbilled. */
  | 'handed_back';

/**
 * One request, start to finish. Every path ends with exactly one terminal event on the
 * request's stream, written after billing heard of the request (settle, or void when nothing
 * was sent upstream), so an `end` always carries the burned cost. The processor never throws
 * for an outcome it understands: BullMQ's own retry would run an answer twice.
 */
export async function processJob(ctx: JobContext, job: Job): Promise<{ outcome: JobOutcome }> {
  const started = performance.now();
  const parsed = inferenceJobSchema.safeParse(job.data);
  if (!parsed.success) return refuseInvalid(ctx, job, parsed.error.issues);

  const data = parsed.data;
  const log = ctx.logger.child({ requestId: data.requestId, jobId: job.id });
  const provider = UpstreamFactory.providerOf(data);
  const writer = ctx.publisher.writer(data.requestId);
  let outcome: JobOutcome = 'errored';

  ctx.metrics.activeJobs.inc();
  try {
    // BullMQ counts every move to active; a stalled job moved back to wait was started before.
    const redelivered = (job.attemptsStarted ?? 0) > 1 || (job.stalledCounter ?? 0) > 0;
    outcome = await run(ctx, data, provider, writer, log, redelivered);
    return { outcome };
  } finally {
    ctx.metrics.activeJobs.dec();
    ctx.metrics.jobDuration.observe({ provider, outcome }, (performance.now() - started) / 1000);
  }
}

async function run(
  ctx: JobContext,
  job: InferenceJob,
  provider: ProviderLabel,
  writer: EventWriter,
  log: Logger,
  redelivered: boolean,
): Promise<JobOutcome> {
  log.debug({ provider, route: job.route.kind, reason: job.decision.reason }, 'job started');
  const mismatch = routeMismatch(job, ctx.env.METER_CUSTOM_ENDPOINTS);
  if (mismatch) {
    log.warn({ reason: job.decision.reason, route: job.route.kind }, `job refused: ${mismatch}`);
    return refuse(ctx, job, writer, log, {
      code: 'internal_error',
      message: 'the request does not match its authorization',
      reason: 'route_mismatch',
    });
  }

  // On redelivery (BullMQ found the job stalled: its worker died), never run an answer twice.
  // A first delivery has no stream yet, so it skips the read (a round trip before the first
  // token).
  if (redelivered) {
    const history = await ctx.publisher.history(job.requestId);
    if (history.terminal) {
      log.info('job redelivered after it had finished; nothing to do');
      return 'duplicate';
    }
    if (history.chunks.length > 0) return settleInterrupted(ctx, job, history.chunks, writer, log);
  }

  const signal = ctx.cancellations.register(job.requestId);
  try {
    if (isHandBack(signal.reason)) return handBack(log, 0);
    if (signal.aborted) {
      log.info('request cancelled before it started');
      return refuse(ctx, job, writer, log, {
        code: 'internal_error',
        message: 'the request was cancelled',
        reason: 'cancelled',
      });
    }

    let upstream;
    try {
      upstream = await ctx.upstreams.create(job);
    } catch (error) {
      if (error instanceof SecretError) {
        log.error({ err: error }, 'a sealed secret of the job cannot be opened');
        return refuse(ctx, job, writer, log, {
          code: 'internal_error',
          message: 'the stored credentials of this model cannot be used',
          reason: 'secret',
        });
      }
      const failure = classifyFailure(error);
      ctx.metrics.upstreamErrors.inc({ provider, kind: failure.kind });
      log.info({ kind: failure.kind }, `request not sent upstream: ${failure.message}`);
      return refuse(ctx, job, writer, log, {
        code: failure.code,
        message: failure.message,
        reason: failure.kind,
      });
    }

    const relayStarted = performance.now();
    let firstTokenMs: number | undefined;
    const result = await relay(job, upstream, writer, signal, {
      firstTokenTimeoutMs: ctx.env.UPSTREAM_FIRST_TOKEN_TIMEOUT_MS,
      idleTimeoutMs: ctx.env.UPSTREAM_IDLE_TIMEOUT_MS,
      maxRetries: ctx.env.UPSTREAM_MAX_RETRIES,
      random: ctx.random,
      onFailure: (failure) => ctx.metrics.upstreamErrors.inc({ provider, kind: failure.kind }),
      onFirstToken: (ms) => {
        ctx.cancellations.markStreaming(job.requestId);
        firstTokenMs = Math.round(ms);
        ctx.metrics.timeToFirstToken.observe({ provider }, ms / 1000);
      },
    });
    const timings = { firstTokenMs, relayMs: Math.round(performance.now() - relayStarted) };
    if (isHandBack(result.abort) && result.chunks === 0) {
      return handBack(log, timings.relayMs);
    }
    return finish(ctx, job, result, writer, log.child({ provider }), timings);
  } finally {
    ctx.cancellations.release(job.requestId);
  }
}

function isHandBack(reason: unknown): boolean {
  return reason instanceof JobAbort && reason.kind === 'handback';
}

/**
 * The worker is shutting down and this job has streamed nothing: it goes back to the queue
 * (the caller moves it) with its hold untouched, and another worker runs it from the start.
 * Nothing is settled or written here, so the request is billed once, by whoever completes it.
 * An upstream call that was already under way is cut; if the provider counted its prompt,
 * that cost is the platform's, not the user's.
 */
function handBack(log: Logger, relayMs: number): JobOutcome {
  log.info({ relayMs }, 'worker shutting down; request handed back to the queue');
  return 'handed_back';
}

/** Settles what the relay produced and writes the terminal event. */
async function finish(
  ctx: JobContext,
  job: InferenceJob,
  result: RelayResult,
  writer: EventWriter,
  log: Logger,
  timings: { firstTokenMs?: number; relayMs: number },
): Promise<JobOutcome> {
  const { usage, estimated, clamped } = await resolveUsage({
    reported: result.reported,
    accepted: result.accepted,
    content: result.content,
    reasoning: result.reasoning,
    messages: job.params.messages,
  });
  if (clamped.length > 0) {
    log.warn(
      { channels: clamped, reported: result.reported?.usage },
      'the upstream reported usage beyond the bound; settling the bound',
    );
  }

  const settleStarted = performance.now();
  const settled = await settleRequest(
    ctx.billing,
    { requestId: job.requestId, usage, status: result.status, usageEstimated: estimated },
    log,
    ctx.settlement,
  );

  const summary = {
    ...timings,
    settleMs: Math.round(performance.now() - settleStarted),
    status: result.status,
    chunks: result.chunks,
    usage,
    usageEstimated: estimated,
    upstreamCost: result.reported?.upstreamCost ?? undefined,
    failure: result.failure?.kind,
    abort: result.abort?.kind,
  };
  if (settled.kind !== 'settled') {
    log.error(summary, 'request finished but billing did not record it');
    await writer.publish({
      type: 'error',
      code: 'internal_error',
      message: 'billing could not record this request',
    });
    return 'billing_failed';
  }
  log.info({ ...summary, cost: settled.result.cost }, 'request settled');

  const end = (finishReason: string | null): StreamEvent => ({
    type: 'end',
    finishReason,
    usage,
    usageEstimated: estimated,
    cost: settled.result.cost,
  });
  switch (result.status) {
    case 'complete':
      await writer.publish(end(result.finishReason ?? 'stop'));
      return 'complete';
    case 'aborted':
      // A cancelled client is gone; the end event still records what it cost. A shutdown
      // leaves the client connected, and it must learn its answer is incomplete.
      if (result.abort?.kind !== 'cancelled') {
        await writer.publish({
          type: 'error',
          code: 'internal_error',
          message: 'the worker shut down before the answer completed',
        });
        return 'aborted';
      }
      await writer.publish(end(null));
      // The client is gone: the partial answer is never read, so it need not wait in Redis.
      await writer.discardChunks().catch((err: unknown) => {
        log.warn({ err }, 'could not drop the chunks of a cancelled request');
      });
      return 'aborted';
    case 'errored': {
      const failure = result.failure!;
      await writer.publish({ type: 'error', code: failure.code, message: failure.message });
      return 'errored';
    }
  }
}
