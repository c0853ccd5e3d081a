import { chatCompletionRequestSchema } from '@creditgate/contracts';
import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { submitChat } from '../../requests/submit.js';
import { collectCompletion } from '../../streaming/collect.js';
import { openRequestStream } from '../../streaming/request-stream.js';
import { relaySse } from '../../streaming/sse.js';

/** Set when billing lowered the output cap to what the balance affords. */
export const OUTPUT_CLAMPED_HEADER = 'x-creditgate-output-clamped';

/** `POST /v1/chat/completions`: authenticate, resolve, authorize, enqueue, relay. */
export function registerChatCompletions(app: FastifyInstance, deps: GatewayDeps): void {
  app.post('/chat/completions', async (request, reply) => {
    const body = chatCompletionRequestSchema.parse(request.body);
    request.outcome.model = body.model;

    const submission = await submitChat(deps, request.caller, request.id, body, request.log);
    const { decision } = submission;
    Object.assign(request.outcome, {
      routeClass: submission.routeClass,
      decision: decision.reason,
      promptTokens: submission.promptTokens,
    });
    if (decision.outputClamped && decision.maxOutputTokens !== null) {
      reply.header(OUTPUT_CLAMPED_HEADER, String(decision.maxOutputTokens));
    }

    const stream = openRequestStream(deps, submission.requestId, request.log);
    if (body.stream) {
      await relaySse(request, reply, submission, stream);
      return reply;
    }
    return collectCompletion(request, reply, submission, stream);
  });
}
