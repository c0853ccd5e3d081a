import type { FastifyInstance } from 'fastify';
import { isServerFailure, openAiEnvelope, toAppError } from '../errors.js';

/**
 * Every error Fastify sees (route handlers, hooks, body parsing, limits, unknown routes) is
 * answered in OpenAI's envelope. tRPC procedures answer in tRPC's own shape instead.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler(async (error, request, reply) => {
    const appError = toAppError(error);
    request.outcome.errorCode = appError.code;
    if (isServerFailure(appError)) request.outcome.error = error;
    return reply.status(appError.status).send(openAiEnvelope(appError));
  });

  app.setNotFoundHandler(async (request, reply) => {
    request.outcome.errorCode = 'not_found';
    return reply.status(404).send({
      error: {
        message: `no route for ${request.method} ${request.url.split('?')[0]}`,
        type: 'invalid_request_error',
        code: 'not_found',
      },
    });
  });
}
