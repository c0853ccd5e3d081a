import type { InferenceJob } from '@creditgate/contracts';
import type { Logger } from '@creditgate/runtime';
import { AnswerText } from '../streaming/answer-text.js';
import type { EventWriter } from '../streaming/publisher.js';
import { resolveUsage } from '../streaming/usage.js';
import type { JobContext, JobOutcome } from './process-job.js';
import { settleRequest } from './settlement.js';

/**
 * The job's earlier delivery streamed tokens and then its worker died. The client already holds
 * part of an answer, so the request is not run again: the tokens in the stream are settled as
 * aborted (counted, since the upstream's report died with the worker) and the client is told.
 */
export async function settleInterrupted(
  ctx: JobContext,
  job: InferenceJob,
  chunks: string[],
  writer: EventWriter,
  log: Logger,
): Promise<JobOutcome> {
  const text = new AnswerText();
  for (const data of chunks) text.addChunk(JSON.parse(data) as { choices?: unknown });
  const { usage, clamped } = await resolveUsage({
    reported: null,
    accepted: true,
    content: text.content,
    reasoning: text.reasoning,
    messages: job.params.messages,
  });

  const settled = await settleRequest(
    ctx.billing,
    { requestId: job.requestId, usage, status: 'aborted', usageEstimated: true },
    log,
    ctx.settlement,
  );
  log.warn(
    { chunks: chunks.length, usage, clamped, settle: settled.kind },
    'request interrupted by a worker failure after streaming; settled as aborted',
  );
  await writer.publish({
    type: 'error',
    code: 'internal_error',
    message: 'the worker running this request stopped before the answer completed',
  });
  return settled.kind === 'failed' ? 'billing_failed' : 'interrupted';
}
