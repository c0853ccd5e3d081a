import type { Socket } from 'node:net';
import { AppError, type ErrorCode } from '@creditgate/contracts';
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

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (headers past the size limit, a
 * malformed request line or Content-Length, bytes that are not HTTP) get the same envelope,
 * then the connection is closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy(error);
    return;
  }
  const [status, reason, code, message]: [number, string, ErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          'request_too_large',
          'request headers are too large',
        ]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'invalid_request_error', 'the request did not arrive in time']
        : [400, 'Bad Request', 'invalid_request_error', 'the request is not valid HTTP'];
  const body = JSON.stringify(openAiEnvelope(new AppError(code, message)));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
