import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import {
  AppError,
  INFERENCE_QUEUE,
  inferenceJobSchema,
  redisKeys,
  type InferenceJob,
} from '@creditgate/contracts';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../auth/authenticate.js';
import { traced } from '../billing/client.js';
import type { GatewayDeps } from '../deps.js';
import { openAiEnvelope, toAppError } from '../errors.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * What the dashboard shows of a job's payload: who, which model, how it was routed and
 * authorized, and the shape of the request. Never the conversation (prompts are the user's
 * data, and an operator watching queue health has no need of them; the logs leave them out for
 * the same reason), never a sealed secret, never a custom endpoint's URL. A payload that does
 * not parse shows nothing at all.
 */
export function dashboardJobView(data: unknown) {
  const parsed = inferenceJobSchema.safeParse(data);
  if (!parsed.success) return { unreadable: 'the payload does not match the job contract' };
  const job: InferenceJob = parsed.data;
  const route =
    job.route.kind === 'platform'
      ? {
          kind: job.route.kind,
          provider: job.route.provider,
          providerModelId: job.route.providerModelId,
          usersOwnKey: job.route.sealedByoKey !== null,
        }
      : {
          kind: job.route.kind,
          providerModelId: job.route.providerModelId,
          hasApiKey: job.route.sealedApiKey !== null,
        };
  return {
    requestId: job.requestId,
    userId: job.userId,
    modelId: job.modelId,
    route,
    decision: {
      reason: job.decision.reason,
      currency: job.decision.currency,
      hold: job.decision.hold,
      maxOutputTokens: job.decision.maxOutputTokens,
    },
    messages: job.params.messages.length,
    tools: job.params.tools?.length ?? 0,
    stream: job.stream,
    acceptedAt: new Date(job.createdAt).toISOString(),
  };
}

/** The API key of `Authorization: Bearer <key>`, or the password of Basic auth (browsers). */
function credentialOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const basic = header ? /^Basic\s+([A-Za-z0-9+/=]{1,1024})\s*$/i.exec(header) : null;
  if (!basic) return bearerToken(header);
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const password = decoded.slice(decoded.indexOf(':') + 1);
  return password || undefined;
}

/**
 * Admin only: the caller's API key must belong to a user with an active `admin` capability,
 * checked on every request (a revoked capability closes the dashboard at once). Refusals answer
 * in the OpenAI envelope like every plain HTTP error of the gateway; a 401 also asks browsers
 * for Basic credentials (any user name, the API key as password).
 */
function adminOnly(deps: GatewayDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const caller = await deps.auth.authenticate(credentialOf(request));
      request.outcome.userId = caller.userId;
      const { active } = await deps.billing.capabilities.check.query(
        { userId: caller.userId, capability: 'admin' },
        traced(request.id),
      );
      if (!active)
        throw new AppError('forbidden', 'the queue dashboard needs the admin capability');
    } catch (error) {
      const appError = toAppError(error);
      request.outcome.errorCode = appError.code;
      if (appError.status >= 500) request.outcome.error = error;
      if (appError.code === 'invalid_api_key') {
        reply.header('www-authenticate', 'Basic realm="creditgate admin", charset="UTF-8"');
      }
      return reply.status(appError.status).send(openAiEnvelope(appError));
    }
  };
}

/**
 * The BullMQ dashboard (bull-board) for the inference queue at /admin/queues, read-only: retrying,
 * promoting, adding or editing a job from a web page could run a request its authorization no
 * longer covers, or twice. It reads through the gateway's own Redis connection.
 */
export async function registerQueueDashboard(app: FastifyInstance, deps: GatewayDeps) {
  const queue = new Queue(INFERENCE_QUEUE, {
    connection: deps.redis,
    prefix: redisKeys(deps.env.QUEUE_PREFIX).bullPrefix,
  });
  const adapter = new BullMQAdapter(queue, {
    readOnlyMode: true,
    allowRetries: false,
    description: 'chat completions waiting for, or running on, an inference worker',
  });
  adapter.setFormatter('data', dashboardJobView);

  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: [adapter],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'creditgate queues' } },
  });

  // The check runs in a scope around the board's own plugin, which installs its own error
  // handler: refusals are answered here, never thrown into it.
  await app.register(async (scope) => {
    scope.addHook('onRequest', adminOnly(deps));
    await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_DASHBOARD_PATH });
  });
  app.addHook('onClose', async () => {
    await queue.close();
  });
}
