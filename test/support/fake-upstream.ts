import {
  FixtureServer,
  type RecordedRequest,
  type Reply,
} from '../../services/inference/test/support/fixture-server.js';

/**
 * Loopback model servers for tests that run the whole stack. The server is the inference
 * suite's FixtureServer (scenarios under their own path segment, recorded requests, waits on
 * requests and disconnects); this file adds OpenAI transcripts written from a short script, so
 * a test states the behaviour it needs (reasoning, tool calls, a failure mid-stream) in a line.
 */
export { FixtureServer, type RecordedRequest, type Reply };

export async function startFakeUpstream(): Promise<FixtureServer> {
  return new FixtureServer().start();
}

export interface UpstreamUsage {
  prompt: number;
  completion: number;
  cached?: number;
  /** Reported in `completion_tokens_details` when given; servers without it leave it out. */
  reasoning?: number;
}

export interface StreamScript {
  /** Text pieces, one chunk each, after the role chunk. */
  content?: string[];
  /** Raw deltas (reasoning, tool calls...), one chunk each, after the content pieces. */
  deltas?: Array<Record<string, unknown>>;
  /** The finish chunk's reason; `null` leaves the answer unfinished. Default `stop`. */
  finishReason?: string | null;
  /** The usage-only chunk OpenAI sends last; `null` sends none. */
  usage?: UpstreamUsage | null;
  /** An `error` object sent in place of the finish chunk, as OpenRouter and LiteLLM do. */
  errorMessage?: string;
}

const DEFAULT_USAGE: UpstreamUsage = { prompt: 12, completion: 3 };

/** The SSE body of a streamed OpenAI chat completion, as api.openai.com writes it. */
export function openAiStream(script: StreamScript = {}): string {
  const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const chunk = (delta: object, finishReason: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });

  // OpenAI opens a text answer with `content: ""` and a tool-call-only answer with `null`.
  const opening = script.content?.length ? '' : null;
  const events: unknown[] = [chunk({ role: 'assistant', content: opening })];
  for (const piece of script.content ?? []) events.push(chunk({ content: piece }));
  for (const delta of script.deltas ?? []) events.push(chunk(delta));
  if (script.errorMessage !== undefined) {
    events.push({ error: { message: script.errorMessage, type: 'server_error' } });
  } else {
    const finishReason = script.finishReason === undefined ? 'stop' : script.finishReason;
    if (finishReason !== null) events.push(chunk({}, finishReason));
    const usage = script.usage === undefined ? DEFAULT_USAGE : script.usage;
    if (usage) events.push({ ...base, choices: [], usage: openAiUsage(usage) });
  }

  const body = events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('');
  return script.errorMessage === undefined && script.finishReason !== null
    ? `${body}data: [DONE]\n\n`
    : body;
}

function openAiUsage(usage: UpstreamUsage) {
  return {
    prompt_tokens: usage.prompt,
    completion_tokens: usage.completion,
    total_tokens: usage.prompt + usage.completion,
    prompt_tokens_details: { cached_tokens: usage.cached ?? 0 },
    ...(usage.reasoning === undefined
      ? {}
      : { completion_tokens_details: { reasoning_tokens: usage.reasoning } }),
  };
}

/**
 * A streamed answer, optionally held after `hold.after` events until `hold.release` resolves,
 * and optionally trickled: `intervalMs` between events, like a model generating tokens.
 */
export function streamReply(
  script: StreamScript = {},
  hold?: { after: number; release: Promise<void> },
  pace?: { intervalMs: number },
): Reply {
  return {
    kind: 'sse',
    body: openAiStream(script),
    ...(hold && { holdAfter: hold.after, release: hold.release }),
    ...(pace && { intervalMs: pace.intervalMs }),
  };
}

/** An HTTP error answer in OpenAI's envelope, before any token. */
export function errorReply(status: number, message: string): Reply {
  return { kind: 'json', status, body: { error: { message, type: 'server_error', code: null } } };
}

/** A promise a test resolves by hand, to hold a stream open until it says so. */
export function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
