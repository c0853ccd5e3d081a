import { clampUsage, ZERO_USAGE, type InferenceJob, type Usage } from '@creditgate/contracts';
import { countPromptTokens, countTokens } from './tokens.js';

/** Usage as an upstream reported it, already split into our disjoint channels. */
export interface ReportedUsage {
  usage: Usage;
  /** False when the upstream gave no reasoning count (its output total may include reasoning). */
  reasoningReported: boolean;
  /** OpenRouter's own price of the request in USD; recorded for reconciliation, never billed. */
  upstreamCost: number | null;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Reads an OpenAI-style `usage` object, wherever it came from (final chunk, usage-only chunk).
 * Cached tokens come from `prompt_tokens_details.cached_tokens` (OpenAI, OpenRouter, vLLM) or
 * `prompt_cache_hit_tokens` (DeepSeek); cache writes from OpenRouter's `cache_write_tokens`.
 * Returns null when the value carries no token counts (vLLM sends `usage: null` on every chunk).
 */
export function fromOpenAiUsage(raw: unknown): ReportedUsage | null {
  if (!isObject(raw)) return null;
  if (typeof raw.prompt_tokens !== 'number' && typeof raw.completion_tokens !== 'number') {
    return null;
  }

  const promptDetails = isObject(raw.prompt_tokens_details) ? raw.prompt_tokens_details : {};
  const completionDetails = isObject(raw.completion_tokens_details)
    ? raw.completion_tokens_details
    : {};
  const prompt = count(raw.prompt_tokens);
  const completion = count(raw.completion_tokens);
  const cacheRead = Math.min(
    prompt,
    count(promptDetails.cached_tokens) || count(raw.prompt_cache_hit_tokens),
  );
  const cacheWrite = Math.min(prompt - cacheRead, count(promptDetails.cache_write_tokens));
  const reasoningReported = typeof completionDetails.reasoning_tokens === 'number';
  const reasoning = Math.min(completion, count(completionDetails.reasoning_tokens));

  return {
    usage: {
      ...ZERO_USAGE,
      input: prompt - cacheRead - cacheWrite,
      output: completion - reasoning,
      cacheRead,
      cacheWrite,
      reasoning,
    },
    reasoningReported,
    upstreamCost: typeof raw.cost === 'number' && Number.isFinite(raw.cost) ? raw.cost : null,
  };
}

export interface UsageEvidence {
  reported: ReportedUsage | null;
  /** True once the upstream accepted the request (a 2xx answer); a refused call costs nothing. */
  accepted: boolean;
  content: string;
  reasoning: string;
  messages: InferenceJob['params']['messages'];
}

export interface ResolvedUsage {
  usage: Usage;
  estimated: boolean;
  /** Channels whose figure was above MAX_TOKENS (or not a count) and was clamped to the bound. */
  clamped: (keyof Usage)[];
}

/**
 * The usage to settle, every channel within the contract's bound. A hostile or broken upstream
 * can report any figure; settling the bound instead of refusing keeps the request billed once,
 * where a refused settle would leave it unbilled.
 */
export async function resolveUsage(evidence: UsageEvidence): Promise<ResolvedUsage> {
  const { usage, estimated } = await usageOf(evidence);
  return { ...clampUsage(usage), estimated };
}

/**
 * Reported usage wins; reasoning text the upstream did not count separately is counted and
 * moved from output to reasoning (never more than it reported). Without any report, prompt and
 * output are counted with the tokenizer and marked estimated.
 */
async function usageOf(evidence: UsageEvidence): Promise<{ usage: Usage; estimated: boolean }> {
  const { reported } = evidence;
  if (reported) {
    const usage = { ...reported.usage };
    if (!reported.reasoningReported && evidence.reasoning) {
      const moved = Math.min(usage.output, await countTokens(evidence.reasoning));
      usage.output -= moved;
      usage.reasoning += moved;
    }
    return { usage, estimated: false };
  }

  if (!evidence.accepted) return { usage: { ...ZERO_USAGE }, estimated: false };

  return {
    usage: {
      ...ZERO_USAGE,
      input: await countPromptTokens(evidence.messages),
      output: await countTokens(evidence.content),
      reasoning: await countTokens(evidence.reasoning),
    },
    estimated: true,
  };
}
