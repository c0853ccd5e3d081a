import type { InferenceJob } from '@creditgate/contracts';
import OpenAI from 'openai';
import type { ClientPool } from '../upstream/client-pool.js';
import { openAiCompatibleUpstream } from './openai-compatible.js';
import type { Upstream } from './types.js';

export interface PlatformOpenAiContext {
  baseUrl: string;
  pool: ClientPool<OpenAI>;
  fetch: typeof fetch;
  timeoutMs: number;
}

/** The `openai` and `openrouter` platform providers: both speak the OpenAI chat API. */
export function platformOpenAiUpstream(
  job: InferenceJob,
  provider: 'openai' | 'openrouter',
  providerModelId: string,
  apiKey: string,
  ctx: PlatformOpenAiContext,
): Upstream {
  const client = ctx.pool.get([provider, ctx.baseUrl, apiKey], () => {
    return new OpenAI({
      baseURL: ctx.baseUrl,
      apiKey,
      organization: null,
      project: null,
      fetch: ctx.fetch,
      maxRetries: 0,
    });
  });

  return openAiCompatibleUpstream(job, {
    provider,
    client,
    model: providerModelId,
    maxTokensField: provider === 'openai' ? 'max_completion_tokens' : 'max_tokens',
    timeoutMs: ctx.timeoutMs,
    secrets: [apiKey],
  });
}
