import type { InferenceJob } from '@creditgate/contracts';
import type { ChatChunk, Upstream } from '../routes/types.js';
import {
  classifyFailure,
  JobAbort,
  StreamTimeout,
  type UpstreamFailure,
} from '../upstream/errors.js';
import { AnswerText } from './answer-text.js';
import type { EventWriter } from './publisher.js';
import { warmTokenCounter } from './tokens.js';
import type { ReportedUsage } from './usage.js';

/**
 * An answer cut at `settleBy` reports no usage, so settling it means counting its tokens, and a
 * cold tokenizer takes seconds of CPU to build (more on a loaded machine). It is started this
 * long before the cut, so the count does not eat into the margin left before the hold expires.
 */
const TOKENIZER_LEAD_MS = 15_000;

export interface RelayOptions {
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  maxRetries: number;
  /**
   * When settle must reach billing (the authorization's `settleBy`, epoch ms): an answer still
   * running then is cut, so its hold cannot expire and free its credits while it runs.
   */
  settleBy?: number;
  /** Injected in tests; jitter draws from it. */
  random?: () => number;
  now?: () => number;
  /** Called for every failed attempt, retried or not (metrics). */
  onFailure?: (failure: UpstreamFailure) => void;
  /** Called just before the first chunk is written, in the same synchronous step. */
  onFirstToken?: (elapsedMs: number) => void;
}

export interface RelayResult {
  /** complete: the upstream finished; aborted: cancelled or shut down; errored: anything else. */
  status: 'complete' | 'aborted' | 'errored';
  /** Why it did not complete (the external abort for `aborted`). */
  failure: UpstreamFailure | null;
  abort: JobAbort | null;
  finishReason: string | null;
  reported: ReportedUsage | null;
  /** Whether the upstream answered 2xx: only then can a prompt have been billed upstream. */
  accepted: boolean;
  chunks: number;
  content: string;
  reasoning: string;
}

/** Finish reasons some servers spell their own way (TGI, older llama.cpp), in OpenAI's words. */
const FINISH_ALIASES: Record<string, string> = {
  eos_token: 'stop',
  eos: 'stop',
  stop_sequence: 'stop',
  end_turn: 'stop',
  max_tokens: 'length',
};

const BASE_RETRY_MS = 500;
const MAX_RETRY_MS = 8_000;

/** Exponential backoff with jitter in [50%, 100%] of the step, or what the upstream asked for. */
export function retryDelayMs(attempt: number, retryAfterMs: number | null, random: () => number) {
  if (retryAfterMs !== null) return retryAfterMs;
  const step = Math.min(BASE_RETRY_MS * 2 ** attempt, MAX_RETRY_MS);
  return Math.round(step * (0.5 + random() * 0.5));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs one upstream call and forwards its chunks, in order, to the request's event stream.
 *
 * Retries (429, 5xx, failed connections) happen only while nothing was received, within the
 * first-token budget, and never for longer than the upstream's Retry-After allows within that
 * budget. Our own loop rather than the SDK's: the SDK sleeps through an abort and trusts any
 * Retry-After, so a hostile endpoint could pin a worker slot for as long as it likes.
 *
 * Timeouts: the first-token deadline runs from the first attempt to the first forwarded chunk;
 * then every upstream item re-arms the idle timer. Either one aborts the call, and so does the
 * authorization's settle deadline, however the tokens flow.
 */
export async function relay(
  job: InferenceJob,
  upstream: Upstream,
  writer: EventWriter,
  external: AbortSignal,
  options: RelayOptions,
): Promise<RelayResult> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const started = now();
  const deadline = started + options.firstTokenTimeoutMs;
  const created = Math.floor(job.createdAt / 1000);

  const controller = new AbortController();
  const forwardAbort = () => controller.abort(external.reason);
  if (external.aborted) forwardAbort();
  else external.addEventListener('abort', forwardAbort, { once: true });

  let timer = setTimeout(
    () => controller.abort(new StreamTimeout('first_token', options.firstTokenTimeoutMs)),
    options.firstTokenTimeoutMs,
  );
  const holdTimer =
    options.settleBy === undefined
      ? undefined
      : setTimeout(
          () => controller.abort(new StreamTimeout('hold', now() - started)),
          Math.max(0, options.settleBy - started),
        );
  const warmTimer =
    options.settleBy === undefined
      ? undefined
      : setTimeout(warmTokenCounter, Math.max(0, options.settleBy - started - TOKENIZER_LEAD_MS));

  const result: RelayResult = {
    status: 'errored',
    failure: null,
    abort: null,
    finishReason: null,
    reported: null,
    accepted: false,
    chunks: 0,
    content: '',
    reasoning: '',
  };
  const text = new AnswerText();

  try {
    const response = await sendWithRetries(upstream, controller.signal, {
      ...options,
      random,
      remainingMs: () => deadline - now(),
    });
    result.accepted = true;
    if (!response.body) throw new Error('the upstream answered without a body');

    for await (const item of upstream.read(response.body)) {
      if (item.type === 'done') {
        result.status = 'complete';
        break;
      }
      if (result.chunks > 0) timer.refresh();
      if (item.type === 'usage') {
        result.reported = item.usage;
        continue;
      }

      // A chunk that only carries usage (OpenRouter puts it on an empty choice) is not news
      // for the client: the gateway reports usage from the end event.
      if (item.chunk.usage != null && !carriesDelta(item.chunk)) continue;

      if (result.chunks === 0) {
        // An abort that landed while this chunk was read wins: a job handed back at shutdown
        // must have streamed nothing (see Cancellations.markStreaming).
        controller.signal.throwIfAborted();
        options.onFirstToken?.(now() - started);
        clearTimeout(timer);
        timer = setTimeout(
          () => controller.abort(new StreamTimeout('idle', options.idleTimeoutMs)),
          options.idleTimeoutMs,
        );
      }
      const finish = stamp(item.chunk, job, created, text);
      if (finish) result.finishReason = finish;
      result.chunks += 1;
      await writer.append({ type: 'chunk', data: JSON.stringify(item.chunk) });
    }
    // What is still held back leaves with the terminal event, in the same write.
  } catch (error) {
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : error;
    if (reason instanceof JobAbort) {
      result.status = 'aborted';
      result.abort = reason;
    } else {
      result.status = 'errored';
      if (reason instanceof AttemptsFailed) {
        result.failure = reason.failure;
      } else {
        result.failure = classifyFailure(reason, upstream.secrets);
        options.onFailure?.(result.failure);
      }
    }
  } finally {
    clearTimeout(timer);
    clearTimeout(holdTimer);
    clearTimeout(warmTimer);
    external.removeEventListener('abort', forwardAbort);
    // A complete answer's body was read or cancelled by the reader; every other path still has
    // a request to end.
    if (result.status !== 'complete' && !controller.signal.aborted) {
      controller.abort(new JobAbort('cancelled'));
    }
  }

  result.content = text.content;
  result.reasoning = text.reasoning;
  return result;
}

/** The last attempt's failure, already classified and counted. */
class AttemptsFailed extends Error {
  constructor(readonly failure: UpstreamFailure) {
    super(failure.message);
  }
}

async function sendWithRetries(
  upstream: Upstream,
  signal: AbortSignal,
  options: RelayOptions & { random: () => number; remainingMs: () => number },
): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await upstream.send(signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const failure = classifyFailure(error, upstream.secrets);
      options.onFailure?.(failure);

      if (!failure.retryable || attempt >= options.maxRetries) throw new AttemptsFailed(failure);
      const delay = retryDelayMs(attempt, failure.retryAfterMs, options.random);
      // Waiting past the first-token deadline cannot end in a token: fail now, with the cause.
      if (delay >= options.remainingMs()) throw new AttemptsFailed(failure);
      await sleep(delay, signal);
    }
  }
}

/** Whether any choice of a chunk says something: text, reasoning, a tool call or a finish. */
function carriesDelta(chunk: ChatChunk): boolean {
  return (chunk.choices as Array<Record<string, unknown> | null>).some((choice) => {
    if (!choice) return false;
    if (choice.finish_reason) return true;
    const delta = choice.delta as Record<string, unknown> | undefined;
    return Boolean(
      delta && (delta.content || delta.reasoning_content || delta.reasoning || delta.tool_calls),
    );
  });
}

/**
 * Stamps a chunk with the request's identity (the client sees one id, its own model name and
 * the time the gateway accepted the request), drops upstream usage (the gateway reports ours),
 * and collects the text an estimate would count. Returns the chunk's finish reason, if any.
 */
function stamp(chunk: ChatChunk, job: InferenceJob, created: number, text: AnswerText) {
  chunk.id = job.requestId;
  chunk.object = 'chat.completion.chunk';
  chunk.created = created;
  chunk.model = job.modelId;
  delete chunk.usage;

  let finish: string | null = null;
  for (const choice of chunk.choices as Array<Record<string, unknown> | null>) {
    if (!choice) continue;
    text.add(choice.delta as Record<string, unknown> | undefined);
    if (typeof choice.finish_reason === 'string' && choice.finish_reason) {
      const normalised = FINISH_ALIASES[choice.finish_reason] ?? choice.finish_reason;
      choice.finish_reason = normalised;
      finish = normalised;
    }
  }
  return finish;
}
