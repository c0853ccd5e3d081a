import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { InferenceJob } from '@creditgate/contracts';

/**
 * Token counting for servers that report no usage, with o200k_base (the tokenizer of current
 * OpenAI models; for other families an estimate, which is why counted usage is always marked
 * estimated).
 *
 * The tokenizer runs in a worker thread, started on first use. Building the o200k table takes
 * about two seconds of CPU and 150 MB; done on the main thread it would freeze every stream this
 * process relays, and most workers never need it (nearly every server reports usage).
 */
const require = createRequire(import.meta.url);

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Tiktoken } = require(workerData.lite);
const ranks = require(workerData.ranks);
const encoder = new Tiktoken(ranks.default ?? ranks);
parentPort.on('message', ({ id, texts }) => {
  try {
    // No special tokens: a text containing "<|endoftext|>" is counted as plain text.
    const counts = texts.map((text) => (text ? encoder.encode(text, [], []).length : 0));
    parentPort.postMessage({ id, counts });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error) });
  }
});
`;

interface Pending {
  resolve: (counts: number[]) => void;
  reject: (error: Error) => void;
}

class TokenCounter {
  private thread: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** Starts the thread now, so that a count needed soon does not wait for the table build. */
  warm(): void {
    this.start();
  }

  count(texts: string[]): Promise<number[]> {
    if (texts.every((text) => !text)) return Promise.resolve(texts.map(() => 0));
    const thread = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.ref();
      thread.postMessage({ id, texts });
    });
  }

  private start(): Worker {
    if (this.thread) return this.thread;
    const thread = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        lite: require.resolve('js-tiktoken/lite'),
        ranks: require.resolve('js-tiktoken/ranks/o200k_base'),
      },
    });
    thread.unref();
    thread.on(
      'message',
      ({ id, counts, error }: { id: number; counts?: number[]; error?: string }) => {
        const waiter = this.pending.get(id);
        this.pending.delete(id);
        // Idle, the thread must not keep the process alive.
        if (this.pending.size === 0) thread.unref();
        if (!waiter) return;
        if (counts) waiter.resolve(counts);
        else waiter.reject(new Error(`token counting failed: ${error}`));
      },
    );
    const fail = (error: Error) => {
      this.thread = null;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    thread.on('error', fail);
    thread.on('exit', (code) => fail(new Error(`token counter stopped (exit ${code})`)));
    this.thread = thread;
    return thread;
  }
}

const counter = new TokenCounter();

export function warmTokenCounter(): void {
  counter.warm();
}

export async function countTokens(text: string): Promise<number> {
  const [count] = await counter.count([text]);
  return count ?? 0;
}

/** Per-message framing overhead of the chat format, as OpenAI documents it for its models. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

/** Estimated prompt tokens of a job's messages (text parts only; images are not counted). */
export async function countPromptTokens(messages: InferenceJob['params']['messages']) {
  const texts: string[] = [];
  for (const message of messages) {
    texts.push(message.role, message.name ?? '');
    if (typeof message.content === 'string') {
      texts.push(message.content);
    } else if (Array.isArray(message.content)) {
      for (const part of message.content) {
        if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
      }
    }
  }
  const counts = await counter.count(texts);
  return (
    TOKENS_PER_REPLY + messages.length * TOKENS_PER_MESSAGE + counts.reduce((a, b) => a + b, 0)
  );
}
