import {
  AppError,
  chatCompletionRequestSchema,
  type ErrorCode,
  type OpenAiUsage,
} from '@creditgate/contracts';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import { toAppError } from '../../errors.js';
import { submitChat } from '../../requests/submit.js';
import type { ChatCompletionChunk } from '../../streaming/aggregate.js';
import { openRequestStream, StreamAborted } from '../../streaming/request-stream.js';
import { streamError } from '../../streaming/sse.js';
import { toOpenAiUsage } from '../../streaming/usage.js';
import { router, userProcedure } from '../init.js';

export type ChatStreamEvent =
  | {
      type: 'start';
      /** The completion id: pass it to `GET /v1/generation?id=`. */
      requestId: string;
      model: string;
      maxOutputTokens: number | null;
      /** True when billing lowered the output cap to what the balance affords. */
      outputClamped: boolean;
    }
  | { type: 'chunk'; chunk: ChatCompletionChunk }
  | { type: 'done'; finishReason: string | null; usage: OpenAiUsage }
  | { type: 'error'; error: { code: ErrorCode; message: string } };

/** tRPC's SSE link sends the id of the last event it saw when it reconnects. */
const chatStreamInput = chatCompletionRequestSchema.extend({
  lastEventId: z.string().max(200).nullish(),
});

/**
 * `chat.stream`: the same request path as `POST /v1/chat/completions`, streamed to a tRPC
 * client over SSE: `start`, the OpenAI chunks as they arrive, then `done` with usage and cost,
 * or a final `error` event.
 *
 * Failures after the input is accepted are sent as that `error` event rather than thrown: the
 * SSE link re-subscribes on 5xx-coded errors and on dropped connections, and a re-subscription
 * would silently start (and bill) a second request. For the same reason a re-subscription
 * (one carrying `lastEventId`) is refused instead of run again.
 */
export const chatRouter = router({
  stream: userProcedure.input(chatStreamInput).subscription(async function* ({
    ctx,
    input,
    signal,
  }) {
    const { lastEventId, ...request } = input;
    if (lastEventId) {
      throw new AppError(
        'invalid_request_error',
        'the stream was interrupted and is not resumed; send a new request',
      );
    }
    let sequence = 0;
    const event = (data: ChatStreamEvent) => tracked(`${ctx.requestId}:${sequence++}`, data);

    ctx.outcome.model = request.model;
    let stream: ReturnType<typeof openRequestStream> | undefined;
    let ended = false;
    const onAbort = () => stream?.abort(new StreamAborted('client_disconnected'));
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      const submission = await submitChat(ctx.deps, ctx.caller, ctx.requestId, request, ctx.log);
      Object.assign(ctx.outcome, {
        routeClass: submission.routeClass,
        decision: submission.decision.reason,
        promptTokens: submission.promptTokens,
      });
      stream = openRequestStream(ctx.deps, submission.requestId, ctx.log);
      if (signal?.aborted) onAbort();

      yield event({
        type: 'start',
        requestId: submission.requestId,
        model: submission.model.id,
        maxOutputTokens: submission.decision.maxOutputTokens,
        outputClamped: submission.decision.outputClamped,
      });
      for await (const next of stream.events) {
        if (next.type === 'chunk') {
          yield event({ type: 'chunk', chunk: JSON.parse(next.data) as ChatCompletionChunk });
          continue;
        }
        ended = true;
        if (next.type === 'error') throw streamError(next);
        Object.assign(ctx.outcome, {
          usage: next.usage,
          cost: next.cost,
          finishReason: next.finishReason,
        });
        yield event({
          type: 'done',
          finishReason: next.finishReason,
          usage: toOpenAiUsage(next.usage, next.cost),
        });
        return;
      }
      throw new AppError('upstream_error', 'the model stream ended without a result');
    } catch (error) {
      if (signal?.aborted) return;
      const appError = toAppError(error);
      ctx.outcome.errorCode = appError.code;
      yield event({ type: 'error', error: { code: appError.code, message: appError.message } });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Left before the worker's last event (the client went away): cancel the request.
      if (stream && !ended) stream.abort(new StreamAborted('client_disconnected'));
      stream?.finish();
    }
  }),
});
