import { REQUEST_ID_RE, type InferenceJob } from '@creditgate/contracts';
import type { Logger } from '@creditgate/runtime';
import type { Job } from 'bullmq';
import type { EventWriter } from '../streaming/publisher.js';
import type { JobContext, JobOutcome } from './process-job.js';
import { voidRequest } from './settlement.js';

export interface Refusal {
  code: 'upstream_error' | 'upstream_timeout' | 'internal_error';
  /** Shown to the client. */
  message: string;
  /** Recorded with the void. */
  reason: string;
}

/** Nothing was sent upstream: release the hold and tell the client why. */
export async function refuse(
  ctx: JobContext,
  job: InferenceJob,
  writer: EventWriter,
  log: Logger,
  refusal: Refusal,
): Promise<JobOutcome> {
  const reason = `worker: ${refusal.reason}`;
  await voidRequest(ctx.billing, { requestId: job.requestId, reason }, log, ctx.settlement);
  await writer.publish({ type: 'error', code: refusal.code, message: refusal.message });
  return 'refused';
}

/** A payload that fails the schema: trust nothing in it beyond a well-formed job id. */
export async function refuseInvalid(
  ctx: JobContext,
  job: Job,
  issues: ReadonlyArray<{ path: PropertyKey[] }>,
): Promise<{ outcome: JobOutcome }> {
  const requestId = job.id && REQUEST_ID_RE.test(job.id) ? job.id : null;
  const log = ctx.logger.child({ requestId, jobId: job.id });
  log.error(
    { fields: issues.map((issue) => issue.path.join('.')) },
    'job payload is invalid; refused',
  );
  if (requestId) {
    await voidRequest(
      ctx.billing,
      { requestId, reason: 'worker: invalid job' },
      log,
      ctx.settlement,
    );
    await ctx.publisher.writer(requestId).publish({
      type: 'error',
      code: 'internal_error',
      message: 'the request could not be processed',
    });
  }
  return { outcome: 'refused' };
}
