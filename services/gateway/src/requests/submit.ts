import {
  AppError,
  type AuthorizeResult,
  type ChatCompletionRequest,
  type InferenceJob,
  type JobRoute,
  type RouteClass,
  type UpstreamParams,
} from '@creditgate/contracts';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Caller } from '../auth/authenticate.js';
import { traced } from '../billing/client.js';
import type { GatewayDeps } from '../deps.js';
import { resolveModel, type ResolvedModel } from '../models/resolve.js';
import { countPromptTokens } from './prompt-tokens.js';

export interface Submission {
  requestId: string;
  job: InferenceJob;
  decision: AuthorizeResult;
  model: ResolvedModel;
  routeClass: RouteClass;
  promptTokens: number;
}

type SubmitDeps = Pick<GatewayDeps, 'prisma' | 'catalog' | 'billing' | 'queue' | 'metrics'>;

/**
 * The request path up to the queue: resolve the model, check the output cap, count the prompt,
 * ask billing, enqueue. A denied request never reaches the queue; an approved one that cannot
 * be enqueued has its hold voided before the caller hears 503.
 */
export async function submitChat(
  deps: SubmitDeps,
  caller: Caller,
  requestId: string,
  request: ChatCompletionRequest,
  log: Logger,
): Promise<Submission> {
  const model = await resolveModel(deps, caller.userId, request.model);

  const requestedCap = request.max_tokens ?? request.max_completion_tokens ?? null;
  if (
    requestedCap !== null &&
    model.maxOutputTokens !== null &&
    requestedCap > model.maxOutputTokens
  ) {
    throw new AppError(
      'invalid_request_error',
      `max_tokens ${requestedCap} is above ${model.id}'s output limit of ${model.maxOutputTokens}`,
    );
  }

  const { route, routeClass } = routeFor(caller, model);
  const promptTokens = countPromptTokens(request);

  const decision = await deps.billing.authorize.mutate(
    {
      requestId,
      userId: caller.userId,
      modelId: model.id,
      routeClass,
      promptTokens,
      maxOutputTokens: requestedCap,
    },
    traced(requestId),
  );
  // A request id is spent once: a replayed authorization means a client reused its
  // x-request-id, and running it again would call the upstream for a request billed once.
  if (decision.replayed) {
    throw new AppError(
      'idempotency_conflict',
      `request id ${requestId} was already used; send a new x-request-id`,
    );
  }
  deps.metrics.authorizations.inc({ decision: decision.decision, reason: decision.reason });
  if (decision.decision === 'denied') throw insufficientCredits(model.id, decision);

  const job: InferenceJob = {
    requestId,
    userId: caller.userId,
    modelId: model.id,
    // The BYO key travels only when billing exempted the request because of it.
    route:
      route.kind === 'platform' && decision.reason !== 'byo_key'
        ? { ...route, sealedByoKey: null }
        : route,
    decision,
    params: upstreamParams(request, decision),
    stream: request.stream,
    includeUsage: request.stream_options?.include_usage === true,
    createdAt: Date.now(),
  };

  try {
    await deps.queue.enqueue(job);
  } catch (error) {
    await deps.billing.void
      .mutate({ requestId, reason: 'enqueue_failed' }, traced(requestId))
      .catch((voidError: unknown) =>
        log.error({ err: voidError }, 'could not void the hold of a request that was not enqueued'),
      );
    throw new AppError(
      'service_unavailable',
      'the request queue is unavailable, try again shortly',
      {
        cause: error,
      },
    );
  }

  return { requestId, job, decision, model, routeClass, promptTokens };
}

function routeFor(
  caller: Caller,
  model: ResolvedModel,
): { route: JobRoute; routeClass: RouteClass } {
  if (model.kind === 'custom') {
    return {
      routeClass: 'custom_endpoint',
      route: {
        kind: 'custom_endpoint',
        baseUrl: model.model.baseUrl,
        providerModelId: model.model.providerModelId,
        sealedApiKey: model.model.sealedApiKey,
      },
    };
  }

  const provider = model.model.provider;
  // Read with the API key, and only when provider keys may route requests (see Authenticator).
  const byoKey = caller.providerKeys?.[provider] ?? null;
  return {
    routeClass: byoKey ? 'platform_byo' : 'platform',
    route: {
      kind: 'platform',
      provider,
      providerModelId: model.model.providerModelId,
      sealedByoKey: byoKey,
    },
  };
}

/** What goes upstream: the sampling parameters, with the output cap billing decided. */
function upstreamParams(request: ChatCompletionRequest, decision: AuthorizeResult): UpstreamParams {
  const {
    model: _model,
    stream: _stream,
    stream_options: _streamOptions,
    max_tokens: _maxTokens,
    max_completion_tokens: _maxCompletionTokens,
    ...params
  } = request;
  return { ...params, max_tokens: decision.maxOutputTokens };
}

function insufficientCredits(modelId: string, decision: AuthorizeResult): AppError {
  const affordable = decision.affordableOutputTokens;
  const message =
    affordable === undefined
      ? `insufficient credits for ${modelId}: add credits to your balance`
      : affordable === 0
        ? `insufficient credits for ${modelId}: your balance does not cover this prompt`
        : `insufficient credits for ${modelId}: your balance affords at most ${affordable} ` +
          'output tokens for this prompt; lower max_tokens or add credits';
  return new AppError('insufficient_credits', message, {
    details: affordable === undefined ? undefined : { affordableOutputTokens: affordable },
  });
}
