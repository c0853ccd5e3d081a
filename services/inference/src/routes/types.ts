import type { ReportedUsage } from '../streaming/usage.js';

/** Who serves the request, as it appears in metrics and logs. */
export type ProviderLabel = 'custom_endpoint' | 'openai' | 'openrouter' | 'anthropic';

/** An OpenAI `chat.completion.chunk` as parsed JSON; unknown fields ride along untouched. */
export type ChatChunk = Record<string, unknown>;

/** What an upstream stream yields once translated into the OpenAI shape. */
export type UpstreamItem =
  /** A chunk to forward to the client (the relay stamps id, model and created). */
  | { type: 'chunk'; chunk: ChatChunk }
  /** Token counts as the upstream reported them; a later report replaces an earlier one. */
  | { type: 'usage'; usage: ReportedUsage }
  /** The upstream finished the answer ([DONE], message_stop, or a finish reason at the end). */
  | { type: 'done' };

/** One upstream call, ready to send. */
export interface Upstream {
  provider: ProviderLabel;
  /** Secrets this call carries, scrubbed from any upstream message shown to the client. */
  secrets: readonly string[];
  /** One attempt; resolves with the 2xx response, rejects with the SDK's error otherwise. */
  send(signal: AbortSignal): Promise<Response>;
  /** Translates the response body; throws BrokenStreamError or UpstreamStreamError. */
  read(body: ReadableStream<Uint8Array>): AsyncIterable<UpstreamItem>;
}
