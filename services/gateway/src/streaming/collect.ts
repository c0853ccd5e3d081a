import { AppError } from '@creditgate/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Submission } from '../requests/submit.js';
import { CompletionAggregator } from './aggregate.js';
import { StreamAborted, type RequestStream } from './request-stream.js';
import { isClientGone, shutdownError, streamError } from './sse.js';
import { toOpenAiUsage } from './usage.js';

/** Reads a request's events to the end and answers one `chat.completion` with usage and cost. */
export async function collectCompletion(
  request: FastifyRequest,
  reply: FastifyReply,
  submission: Submission,
  stream: RequestStream,
) {
  const onClose = () => {
    if (!reply.raw.writableFinished) stream.abort(new StreamAborted('client_disconnected'));
  };
  reply.raw.on('close', onClose);
  // The client may have left while billing and the queue were being asked.
  if (reply.raw.destroyed) onClose();

  try {
    const aggregator = new CompletionAggregator();
    for await (const batch of stream.batches) {
      for (const event of batch) {
        if (event.type === 'chunk') {
          aggregator.add(event.data);
        } else if (event.type === 'error') {
          throw streamError(event);
        } else {
          request.outcome.usage = event.usage;
          request.outcome.cost = event.cost;
          request.outcome.finishReason = event.finishReason;
          const meta = {
            id: submission.requestId,
            model: submission.model.id,
            created: Math.floor(submission.job.createdAt / 1000),
          };
          return aggregator.completion(
            meta,
            event.finishReason,
            toOpenAiUsage(event.usage, event.cost),
          );
        }
      }
    }
    throw new AppError('upstream_error', 'the model stream ended without a result');
  } catch (error) {
    // The status nginx uses for a client that closed the connection; nobody receives it.
    const aborted = stream.signal.reason;
    if (isClientGone(aborted)) return reply.code(499).send();
    throw aborted instanceof StreamAborted ? shutdownError(aborted) : error;
  } finally {
    reply.raw.off('close', onClose);
    stream.finish();
  }
}
