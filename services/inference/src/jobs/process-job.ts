import {
  decisionCost,
  inferenceJobSchema,
  parseAmount,
  type InferenceJob,
  type SettleInput,
  type StreamEvent,
} from '@creditgate/contracts';
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
  // A client that reads no stream gets the whole answer at once: no point writing it piecemeal.
  const writer = ctx.publisher.writer(data.requestId, { holdBack: !data.stream });
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
      log.info('job redelivered after it had finished; making sure it is settled');
      return settleFinished(ctx, job, history.terminal, log);
    }
    if (history.chunks.length > 0) return settleInterrupted(ctx, job, history.chunks, writer, log);
  }

  const signal = ctx.cancellations.register(job.requestId);
  try {
    if (isHandBack(signal.reason)) return handBack(log, 0);
    if (job.decision.settleBy !== undefined && Date.now() >= job.decision.settleBy) {
      // Its hold is about to expire: running it now could spend credits that are free again.
      log.warn({ settleBy: job.decision.settleBy }, 'request waited past its credit hold');
      return refuse(ctx, job, writer, log, {
        code: 'upstream_timeout',
        message: 'the request waited in the queue until its credit hold ran out; send it again',
        reason: 'hold_timeout',
      });
    }
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
      settleBy: job.decision.settleBy,
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

/**
 * Writes the terminal event and settles what the relay produced. When the authorization says
 * what settle will burn (see decisionCost), the client hears the end first and billing is told
 * right after: settle is off the answer's path. Otherwise settle comes first and the end carries
 * the cost billing returned.
 */
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

  const input: SettleInput = {
    requestId: job.requestId,
    usage,
    status: result.status,
    usageEstimated: estimated,
  };
  const summary = {
    ...timings,
    status: result.status,
    chunks: result.chunks,
    usage,
    usageEstimated: estimated,
    upstreamCost: result.reported?.upstreamCost ?? undefined,
    failure: result.failure?.kind,
    abort: result.abort?.kind,
  };

  const cost = decisionCost(job.decision, usage);
  if (cost !== null) {
    // A terminal event that cannot be written leaves the gateway to time out; billing must
    // still hear of the request, so the write's failure is raised only after settle (the job
    // then fails for good, as any job whose stream cannot be written does).
    const unpublished = await publishTerminal(
      writer,
      result,
      terminalEvent(result, input, cost),
      log,
    ).then(
      () => null,
      (err: unknown) => ({ err }),
    );
    const settled = await settle(ctx, input, log);
    if (settled.kind !== 'settled') {
      log.error(summary, 'request answered but billing did not record it');
      if (unpublished) throw unpublished.err;
      return 'billing_failed';
    }
    const burned = parseAmount(settled.result.cost);
    if (burned > parseAmount(cost)) {
      log.error(
        { ...summary, cost, burned: settled.result.cost },
        'billing burned more than the client was shown',
      );
    } else if (burned < parseAmount(cost)) {
      // Billing writes off what the balance cannot cover, and says so in its own log.
      log.info(
        { ...summary, cost, burned: settled.result.cost },
        'billing charged less than the client was shown: the rest was written off',
      );
    }
    log.info({ ...summary, settleMs: settled.ms, cost }, 'request settled');
    if (unpublished) throw unpublished.err;
    return result.status;
  }

  const settled = await settle(ctx, input, log);
  if (settled.kind !== 'settled') {
    log.error(summary, 'request finished but billing did not record it');
    await writer.publish({
      type: 'error',
      code: 'internal_error',
      message: 'billing could not record this request',
    });
    return 'billing_failed';
  }
  log.info({ ...summary, settleMs: settled.ms, cost: settled.result.cost }, 'request settled');
  await publishTerminal(writer, result, terminalEvent(result, input, settled.result.cost), log);
  return result.status;
}

/** Writes the terminal event; a cancelled client never reads its partial answer, so it goes. */
async function publishTerminal(
  writer: EventWriter,
  result: RelayResult,
  event: StreamEvent,
  log: Logger,
): Promise<void> {
  await writer.publish(event);
  if (result.abort?.kind !== 'cancelled') return;
  await writer.discardChunks().catch((err: unknown) => {
    log.warn({ err }, 'could not drop the chunks of a cancelled request');
  });
}

async function settle(ctx: JobContext, input: SettleInput, log: Logger) {
  const started = performance.now();
  const settled = await settleRequest(ctx.billing, input, log, ctx.settlement);
  return { ...settled, ms: Math.round(performance.now() - started) };
}

/**
 * The event that ends a request's stream. A cancelled client is gone; its end event still
 * records what it cost. A shutdown (or a hand-back after something was streamed) leaves the
 * client connected, and it must learn its answer is incomplete. An `end` says how it was
 * settled: a finish reason for `complete`, none for `aborted` (see settleFinished).
 */
function terminalEvent(result: RelayResult, input: SettleInput, cost: string): StreamEvent {
  const end = (finishReason: string | null): StreamEvent => ({
    type: 'end',
    finishReason,
    usage: input.usage,
    usageEstimated: input.usageEstimated,
    cost,
  });
  switch (result.status) {
    case 'complete':
      return end(result.finishReason ?? 'stop');
    case 'aborted':
      return result.abort?.kind === 'cancelled'
        ? end(null)
        : {
            type: 'error',
            code: 'internal_error',
            message: 'the worker shut down before the answer completed',
          };
    case 'errored': {
      const failure = result.failure!;
      return { type: 'error', code: failure.code, message: failure.message };
    }
  }
}

/**
 * A redelivered job whose answer already ended: its worker may have died between writing the
 * end and settling. Settling again from the end event is safe (settle is idempotent by request
 * id: a request settled before replays). An `error` end carries no usage; such a request, if it
 * was never settled, has its hold released by billing's expiry sweep.
 */
async function settleFinished(
  ctx: JobContext,
  job: InferenceJob,
  terminal: StreamEvent,
  log: Logger,
): Promise<JobOutcome> {
  if (terminal.type !== 'end') return 'duplicate';
  const settled = await settle(
    ctx,
    {
      requestId: job.requestId,
      usage: terminal.usage,
      status: terminal.finishReason === null ? 'aborted' : 'complete',
      usageEstimated: terminal.usageEstimated,
    },
    log,
  );
  return settled.kind === 'failed' ? 'billing_failed' : 'duplicate';
}
