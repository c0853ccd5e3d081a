import { AppError, redisKeys } from '@creditgate/contracts';
import { installHttpMetrics } from '@creditgate/runtime';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerQueueDashboard } from './admin/queue-dashboard.js';
import { startAuthentication } from './auth/request-authentication.js';
import { createDeps, type GatewayDeps, type GatewayOptions } from './deps.js';
import type { GatewayEnv } from './env.js';
import { isServerFailure, toAppError } from './errors.js';
import { answerClientError, installErrorHandler } from './http/error-handler.js';
import { registerRateLimit } from './http/rate-limit.js';
import {
  installRequestContext,
  refuseMalformedRequestId,
  requestIdFor,
} from './http/request-context.js';
import { registerHealthRoutes } from './routes/health.js';
import { OUTPUT_CLAMPED_HEADER } from './routes/v1/chat-completions.js';
import { v1Routes } from './routes/v1/index.js';
import { StreamAborted } from './streaming/request-stream.js';
import { contextFactory } from './trpc/context.js';
import { appRouter, type AppRouter } from './trpc/router.js';

/** Most calls one tRPC batch may carry; a larger batch is refused with 400. */
export const TRPC_MAX_BATCH_SIZE = 20;

export interface Gateway {
  url: string;
  port: number;
  app: FastifyInstance;
  deps: GatewayDeps;
  /**
   * Graceful stop: refuse new requests, let open streams finish for up to `graceMs`
   * (SHUTDOWN_GRACE_MS by default), then cancel the rest and close every connection.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(
  env: GatewayEnv,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const deps = await createDeps(env, options);
  let app: FastifyInstance;
  try {
    app = await buildApp(deps);
    await app.listen({ port: env.PORT, host: env.HOST });
  } catch (error) {
    await deps.close();
    throw error;
  }

  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const host = env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  deps.logger.info({ port }, 'gateway listening');

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    app,
    deps,
    close(graceMs = env.SHUTDOWN_GRACE_MS) {
      closing ??= shutdown(app, deps, graceMs);
      return closing;
    },
  };
}

async function shutdown(app: FastifyInstance, deps: GatewayDeps, graceMs: number): Promise<void> {
  deps.logger.info({ openStreams: deps.inFlight.size, graceMs }, 'gateway shutting down');
  const deadline = setTimeout(() => {
    deps.logger.warn({ openStreams: deps.inFlight.size }, 'grace period over, cancelling streams');
    deps.inFlight.abortAll(new StreamAborted('shutdown'));
  }, graceMs);
  try {
    // Stops accepting connections and resolves once every in-flight response has ended.
    await app.close();
    // Cancels of streams cut short must reach the worker before Redis is closed.
    await deps.inFlight.cancellationsSettled();
  } finally {
    clearTimeout(deadline);
    await deps.close();
  }
}

/**
 * Draining: once closing, a request that still arrives on an open keep-alive connection is
 * refused with 503 in the surface's error format (`Connection: close`, so the client's retry goes
 * to another instance). Node closes only the keep-alive connections that are idle when the
 * server closes; one whose response ends later (a stream finishing within the grace period)
 * would keep it open forever, so each response during the drain closes the idle ones again.
 */
function drainOnClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    throw new AppError('service_unavailable', 'the gateway is shutting down; retry the request');
  });
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
}

export async function buildApp(deps: GatewayDeps): Promise<FastifyInstance> {
  const { env } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One line per request is written by the request context (with its outcome), not Fastify.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    genReqId: requestIdFor,
    bodyLimit: env.BODY_LIMIT_BYTES,
    // Idle keep-alive sockets are closed at shutdown; busy ones finish their response first.
    forceCloseConnections: 'idle',
    // Requests that arrive while closing are refused by drainOnClose, in our error format.
    return503OnClosing: false,
    // tRPC batches put every procedure name into one path segment.
    routerOptions: { maxParamLength: 2_000 },
    clientErrorHandler: answerClientError,
  });

  installRequestContext(app);
  installErrorHandler(app);
  drainOnClose(app);
  await app.register(helmet);
  await app.register(cors, {
    origin: env.CORS_ORIGINS.length > 0 ? env.CORS_ORIGINS : false,
    exposedHeaders: ['x-request-id', OUTPUT_CLAMPED_HEADER, 'retry-after'],
  });

  registerHealthRoutes(app, deps);
  installHttpMetrics(app, deps.metrics, {
    serviceToken: env.SERVICE_TOKEN,
    metricsToken: env.METRICS_TOKEN,
  });
  await registerQueueDashboard(app, deps);

  // The public API: rate limited per API key, in its own scope so health and metrics are not.
  await app.register(async (api) => {
    // JSON bodies only: a text body is refused like a form, naming the content type to send.
    api.removeContentTypeParser('text/plain');
    refuseMalformedRequestId(api);
    startAuthentication(api, deps);
    await registerRateLimit(api, {
      redis: deps.redis,
      keyPrefix: redisKeys(env.QUEUE_PREFIX).rateLimit,
      perMinute: env.RATE_LIMIT_PER_MINUTE,
    });
    await api.register((v1) => v1Routes(v1, deps), { prefix: '/v1' });
    await api.register(fastifyTRPCPlugin, {
      prefix: '/trpc',
      trpcOptions: {
        router: appRouter,
        createContext: contextFactory(deps),
        maxBatchSize: TRPC_MAX_BATCH_SIZE,
        onError: ({ error, req }) => {
          const appError = toAppError(error);
          req.outcome.errorCode = appError.code;
          if (isServerFailure(appError)) req.outcome.error = error;
        },
      },
    } satisfies FastifyTRPCPluginOptions<AppRouter>);
  });

  return app;
}
