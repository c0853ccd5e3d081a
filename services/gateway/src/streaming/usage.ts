import type { OpenAiUsage, Usage } from '@creditgate/contracts';

/**
 * Our disjoint channels folded back into OpenAI's usage: prompt tokens include cached and
 * cache-write tokens, completion tokens include reasoning tokens. `cost` is the credits burned,
 * as a decimal string, the way OpenRouter reports it.
 */
export function toOpenAiUsage(usage: Usage, cost: string): OpenAiUsage {
  const promptTokens = usage.input + usage.cacheRead + usage.cacheWrite + usage.cacheWrite1h;
  const completionTokens = usage.output + usage.reasoning;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cacheRead },
    completion_tokens_details: { reasoning_tokens: usage.reasoning },
    cost,
  };
}
