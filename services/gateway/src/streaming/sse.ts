import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { AppError, type StreamEvent } from '@creditgate/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isServerFailure, openAiEnvelope, toAppError } from '../errors.js';
import type { Submission } from '../requests/submit.js';
import { StreamAborted, type RequestStream } from './request-stream.js';
import { toOpenAiUsage } from './usage.js';

/** Nobody is listening any more: nothing to answer, and nothing went wrong on our side. */
export function isClientGone(reason: unknown): boolean {
  return reason instanceof StreamAborted && reason.reason === 'client_disconnected';
}

export function shutdownError(aborted: StreamAborted): AppError {
  return new AppError('service_unavailable', aborted.message);
}

/** A worker's `error` event as the error the client sees. */
export function streamError(event: Extract<StreamEvent, { type: 'error' }>): AppError {
  return new AppError(event.code, event.message);
}

/**
 * Relays a request's events as OpenAI server-sent events. The status line waits for the first
 * event, so a request that fails before its first token still gets a proper error status; after
 * that, chunks are written exactly as the worker serialized them, a failure becomes an error
 * event, and the stream ends with the usage chunk (when asked for) and `data: [DONE]`. What
 * arrived together is written together, at once: nothing waits for more to arrive.
 */
export async function relaySse(
  request: FastifyRequest,
  reply: FastifyReply,
  submission: Submission,
  stream: RequestStream,
): Promise<void> {
  const iterator = stream.batches[Symbol.asyncIterator]();
  const onClose = () => {
    if (!reply.raw.writableFinished) stream.abort(new StreamAborted('client_disconnected'));
  };
  reply.raw.on('close', onClose);
  // The client may have left while billing and the queue were being asked.
  if (reply.raw.destroyed) onClose();

  let body: PassThrough | undefined;
  const write = async (text: string) => {
    if (!body!.write(text)) await once(body!, 'drain', { signal: stream.signal });
  };

  try {
    const first = await iterator.next();
    if (first.done) throw new AppError('upstream_error', 'the model stream ended without a result');
    if (first.value[0]!.type === 'error') throw streamError(first.value[0]!);

    body = new PassThrough();
    reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no')
      .send(body);

    for (
      let next: IteratorResult<StreamEvent[], void> = first;
      !next.done;
      next = await iterator.next()
    ) {
      await write(frames(request, submission, next.value));
    }
    body.end();
  } catch (error) {
    const aborted = stream.signal.reason;
    if (!body) {
      if (isClientGone(aborted)) return void reply.code(499).send();
      throw aborted instanceof StreamAborted ? shutdownError(aborted) : error;
    }
    if (isClientGone(aborted)) {
      body.destroy();
      return;
    }
    // Headers are out, so the failure (timeout, shutdown, lost Redis) is told as an error event.
    const appError = aborted instanceof StreamAborted ? shutdownError(aborted) : toAppError(error);
    request.outcome.errorCode = appError.code;
    if (isServerFailure(appError) && !(aborted instanceof StreamAborted)) {
      request.outcome.error = error;
    }
    body.end(`data: ${JSON.stringify(openAiEnvelope(appError))}\n\n`);
  } finally {
    reply.raw.off('close', onClose);
    stream.finish();
  }
}

/** The SSE text of a batch of events; the terminal one also fills in the request's outcome. */
function frames(request: FastifyRequest, submission: Submission, events: StreamEvent[]): string {
  let text = '';
  for (const event of events) {
    if (event.type === 'chunk') {
      text += `data: ${event.data}\n\n`;
    } else if (event.type === 'error') {
      request.outcome.errorCode = event.code;
      text += `data: ${JSON.stringify(openAiEnvelope(streamError(event)))}\n\n`;
    } else {
      request.outcome.usage = event.usage;
      request.outcome.cost = event.cost;
      request.outcome.finishReason = event.finishReason;
      if (submission.job.includeUsage) {
        text += `data: ${JSON.stringify(usageChunk(submission, event))}\n\n`;
      }
      text += 'data: [DONE]\n\n';
    }
  }
  return text;
}

/** The closing chunk of `stream_options.include_usage`: no choices, OpenAI usage plus cost. */
function usageChunk(submission: Submission, end: Extract<StreamEvent, { type: 'end' }>) {
  return {
    id: submission.requestId,
    object: 'chat.completion.chunk',
    created: Math.floor(submission.job.createdAt / 1000),
    model: submission.model.id,
    choices: [],
    usage: toOpenAiUsage(end.usage, end.cost),
  };
}
