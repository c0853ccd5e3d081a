import type { InferenceJob } from '@creditgate/contracts';
import type OpenAI from 'openai';
import { readSse } from '../streaming/sse.js';
import { fromOpenAiUsage } from '../streaming/usage.js';
import { BrokenStreamError, UpstreamStreamError } from '../upstream/errors.js';
import type { ChatChunk, ProviderLabel, Upstream, UpstreamItem } from './types.js';

export interface OpenAiCompatibleTarget {
  provider: ProviderLabel;
  client: OpenAI;
  model: string;
  /**
   * OpenAI's own API wants `max_completion_tokens` (its reasoning models refuse `max_tokens`);
   * every other server understands `max_tokens`, and many do not know the newer name.
   */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Per-attempt wait for response headers; the relay's first-token deadline bounds the total. */
  timeoutMs: number;
  secrets: readonly string[];
}

const FORWARDED_PARAMS = [
  'messages',
  'temperature',
  'top_p',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'user',
  'n',
  'response_format',
  'tools',
  'tool_choice',
] as const;

/** The request body: the job's parameters without nulls (some servers reject `null`). */
export function chatBody(job: InferenceJob, target: OpenAiCompatibleTarget) {
  const body: Record<string, unknown> = { model: target.model };
  for (const name of FORWARDED_PARAMS) {
    const value = job.params[name];
    if (value !== null && value !== undefined) body[name] = value;
  }
  if (job.params.max_tokens !== null) body[target.maxTokensField] = job.params.max_tokens;
  body.stream = true;
  // Asks for the usage chunk; servers that do not know the option ignore it.
  body.stream_options = { include_usage: true };
  return body;
}

export function openAiCompatibleUpstream(
  job: InferenceJob,
  target: OpenAiCompatibleTarget,
): Upstream {
  const body = chatBody(job, target);
  return {
    provider: target.provider,
    secrets: target.secrets,
    send: (signal) =>
      target.client.chat.completions
        .create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming, {
          signal,
          maxRetries: 0,
          timeout: target.timeoutMs,
        })
        .asResponse(),
    read: readChatStream,
  };
}

/**
 * Reads an OpenAI-style chat stream as servers really send it. Chunks without choices, empty
 * `data:` lines and unknown fields are tolerated; usage is taken from whichever chunk carries it
 * (the last choice chunk or a separate usage-only chunk). Truncated JSON, an error object, or a
 * body that ends with neither `[DONE]` nor a finish reason is a broken stream.
 */
export async function* readChatStream(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<UpstreamItem> {
  let finished = false;

  for await (const event of readSse(body)) {
    const data = event.data.trim();
    if (data === '') continue;
    if (data === '[DONE]') {
      yield { type: 'done' };
      return;
    }

    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      throw new BrokenStreamError('the upstream sent a malformed or truncated stream chunk');
    }
    if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) {
      throw new BrokenStreamError('the upstream sent a stream chunk that is not an object');
    }

    if (chunk.error !== undefined && chunk.error !== null)
      throw new UpstreamStreamError(errorText(chunk.error));

    const usage = fromOpenAiUsage(chunk.usage);
    if (usage) yield { type: 'usage', usage };

    const choices = chunk.choices;
    if (Array.isArray(choices) && choices.length > 0) {
      if (choices.some((c) => (c as { finish_reason?: unknown })?.finish_reason)) finished = true;
      yield { type: 'chunk', chunk };
    }
  }

  // No [DONE]: a stream that still delivered its finish reason is complete; one that did not
  // was cut off, however cleanly the connection closed.
  if (!finished)
    throw new BrokenStreamError('the upstream stream ended before the answer was complete');
  yield { type: 'done' };
}

function errorText(error: unknown): string {
  if (typeof error === 'string') return error;
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' ? message : 'the upstream reported an error mid-stream';
}
