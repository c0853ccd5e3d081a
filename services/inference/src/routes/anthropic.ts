import Anthropic from '@anthropic-ai/sdk';
import { ZERO_USAGE, type InferenceJob } from '@creditgate/contracts';
import type { ClientPool } from '../upstream/client-pool.js';
import { readSse } from '../streaming/sse.js';
import type { ReportedUsage } from '../streaming/usage.js';
import {
  BrokenStreamError,
  UnsupportedRequestError,
  UpstreamStreamError,
} from '../upstream/errors.js';
import type { ChatChunk, Upstream, UpstreamItem } from './types.js';

export interface AnthropicContext {
  baseUrl: string;
  pool: ClientPool<Anthropic>;
  fetch: typeof fetch;
  timeoutMs: number;
}

/**
 * Anthropic requires an output cap; billing sends one for metered requests, this covers the
 * rest (BYO keys) with a cap every current Claude model accepts.
 */
const DEFAULT_MAX_TOKENS = 4_096;

type Message = InferenceJob['params']['messages'][number];
type ContentBlock = Anthropic.TextBlockParam | Anthropic.ImageBlockParam;

function textOf(message: Message): string {
  if (typeof message.content === 'string') return message.content;
  if (!Array.isArray(message.content)) return '';
  return message.content
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text as string)
    .join('\n');
}

function blocksOf(message: Message): string | ContentBlock[] {
  if (!Array.isArray(message.content)) return message.content ?? '';
  return message.content.map((part): ContentBlock => {
    if (part.type === 'text' && typeof part.text === 'string')
      return { type: 'text', text: part.text };
    if (part.type === 'image_url') {
      const url = (part.image_url as { url?: unknown } | undefined)?.url;
      if (typeof url === 'string') {
        const data = /^data:(image\/(?:png|jpeg|gif|webp));base64,(.*)$/s.exec(url);
        if (data) {
          const mediaType = data[1] as Anthropic.Base64ImageSource['media_type'];
          return {
            type: 'image',
            source: { type: 'base64', media_type: mediaType, data: data[2]! },
          };
        }
        return { type: 'image', source: { type: 'url', url } };
      }
    }
    throw new UnsupportedRequestError(
      `message content of type "${part.type}" is not supported for this model`,
    );
  });
}

/** The OpenAI chat request in the messages API's terms: system prompt apart, stop as sequences. */
export function messagesBody(job: InferenceJob, model: string) {
  const { params } = job;
  if (params.tools?.length || params.tool_choice) {
    throw new UnsupportedRequestError('tool calls are not supported for this model');
  }

  const system: string[] = [];
  const messages: Anthropic.MessageParam[] = [];
  for (const message of params.messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(textOf(message));
        break;
      case 'user':
      case 'assistant':
        messages.push({ role: message.role, content: blocksOf(message) });
        break;
      case 'tool':
        throw new UnsupportedRequestError('tool messages are not supported for this model');
    }
  }

  const body: Anthropic.MessageCreateParamsStreaming = {
    model,
    max_tokens: params.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages,
    stream: true,
  };
  if (system.length) body.system = system.join('\n\n');
  // The messages API takes temperature in [0, 1]; OpenAI's range goes to 2.
  if (params.temperature != null) body.temperature = Math.min(params.temperature, 1);
  if (params.top_p != null) body.top_p = params.top_p;
  if (params.stop != null)
    body.stop_sequences = Array.isArray(params.stop) ? params.stop : [params.stop];
  if (params.user) body.metadata = { user_id: params.user };
  return body;
}

export function anthropicUpstream(
  job: InferenceJob,
  providerModelId: string,
  apiKey: string,
  ctx: AnthropicContext,
): Upstream {
  const body = messagesBody(job, providerModelId);
  const client = ctx.pool.get(['anthropic', ctx.baseUrl, apiKey], () => {
    // authToken: null keeps the SDK from picking ANTHROPIC_AUTH_TOKEN out of the environment.
    return new Anthropic({
      apiKey,
      authToken: null,
      baseURL: ctx.baseUrl,
      fetch: ctx.fetch,
      maxRetries: 0,
    });
  });

  return {
    provider: 'anthropic',
    secrets: [apiKey],
    send: (signal) =>
      client.messages.create(body, { signal, maxRetries: 0, timeout: ctx.timeoutMs }).asResponse(),
    read: readMessagesStream,
  };
}

/** Anthropic's stop reasons in OpenAI's words. */
export function finishReasonOf(stopReason: string | null | undefined): string | null {
  switch (stopReason) {
    case null:
    case undefined:
      return null;
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_creation?: {
    ephemeral_5m_input_tokens?: number;
    ephemeral_1h_input_tokens?: number;
  } | null;
  output_tokens_details?: { thinking_tokens?: number } | null;
}

const n = (value: unknown) => (typeof value === 'number' && value > 0 ? Math.round(value) : 0);

/**
 * Messages API usage onto our channels. Anthropic's `input_tokens` already excludes cache reads
 * and writes; writes split into the 5 minute and 1 hour channels when the breakdown is given.
 * `output_tokens` includes thinking; `thinking_tokens`, when reported, moves to reasoning.
 */
export function fromAnthropicUsage(usage: AnthropicUsage): ReportedUsage {
  const write1h = n(usage.cache_creation?.ephemeral_1h_input_tokens);
  const write5m = usage.cache_creation
    ? n(usage.cache_creation.ephemeral_5m_input_tokens)
    : Math.max(0, n(usage.cache_creation_input_tokens) - write1h);
  const output = n(usage.output_tokens);
  const thinking = usage.output_tokens_details
    ? n(usage.output_tokens_details.thinking_tokens)
    : null;
  const reasoning = Math.min(output, thinking ?? 0);
  return {
    usage: {
      ...ZERO_USAGE,
      input: n(usage.input_tokens),
      output: output - reasoning,
      cacheRead: n(usage.cache_read_input_tokens),
      cacheWrite: write5m,
      cacheWrite1h: write1h,
      reasoning,
    },
    reasoningReported: thinking !== null,
    upstreamCost: null,
  };
}

function chunkOf(delta: Record<string, unknown>, finishReason: string | null = null): ChatChunk {
  return {
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

/**
 * Translates the messages SSE stream into OpenAI chunks: text deltas become `content`, thinking
 * deltas `reasoning_content`, the stop reason a final chunk with its finish reason. Usage is the
 * union of `message_start` (input side) and the cumulative counts of `message_delta`.
 */
export async function* readMessagesStream(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<UpstreamItem> {
  let usage: AnthropicUsage = {};
  let stopped = false;

  for await (const sse of readSse(body)) {
    if (!sse.data.trim()) continue;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(sse.data) as Record<string, unknown>;
    } catch {
      throw new BrokenStreamError('the upstream sent a malformed or truncated stream event');
    }

    switch (event.type) {
      case 'message_start': {
        const message = event.message as { usage?: AnthropicUsage } | undefined;
        usage = { ...message?.usage };
        yield { type: 'usage', usage: fromAnthropicUsage(usage) };
        yield { type: 'chunk', chunk: chunkOf({ role: 'assistant', content: '' }) };
        break;
      }
      case 'content_block_start': {
        const block = event.content_block as { type?: string; text?: string; thinking?: string };
        if (block?.type === 'text' && block.text) {
          yield { type: 'chunk', chunk: chunkOf({ content: block.text }) };
        } else if (block?.type === 'thinking' && block.thinking) {
          yield { type: 'chunk', chunk: chunkOf({ reasoning_content: block.thinking }) };
        }
        break;
      }
      case 'content_block_delta': {
        const delta = event.delta as { type?: string; text?: string; thinking?: string };
        if (delta?.type === 'text_delta' && typeof delta.text === 'string') {
          yield { type: 'chunk', chunk: chunkOf({ content: delta.text }) };
        } else if (delta?.type === 'thinking_delta' && typeof delta.thinking === 'string') {
          yield { type: 'chunk', chunk: chunkOf({ reasoning_content: delta.thinking }) };
        }
        // signature_delta and input_json_delta carry nothing an OpenAI client reads.
        break;
      }
      case 'message_delta': {
        const delta = event.delta as { stop_reason?: string | null } | undefined;
        const counts = (event.usage ?? {}) as AnthropicUsage;
        for (const [key, value] of Object.entries(counts)) {
          if (value !== null && value !== undefined)
            (usage as Record<string, unknown>)[key] = value;
        }
        yield { type: 'usage', usage: fromAnthropicUsage(usage) };
        if (delta?.stop_reason) {
          stopped = true;
          yield { type: 'chunk', chunk: chunkOf({}, finishReasonOf(delta.stop_reason)) };
        }
        break;
      }
      case 'message_stop':
        yield { type: 'done' };
        return;
      case 'error': {
        const error = event.error as { message?: unknown } | undefined;
        throw new UpstreamStreamError(
          typeof error?.message === 'string'
            ? error.message
            : 'the upstream reported an error mid-stream',
        );
      }
      default:
        // ping, content_block_stop and event types added later: nothing to forward.
        break;
    }
  }

  if (!stopped)
    throw new BrokenStreamError('the upstream stream ended before the answer was complete');
  yield { type: 'done' };
}
