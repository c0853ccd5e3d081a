import type { AppRouter, ChatStreamEvent } from '@creditgate/gateway';
import {
  createTRPCClient,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
} from '@trpc/client';
import { EventSource } from 'eventsource';

export type { AppRouter, ChatStreamEvent };
export type CreditgateClient = TRPCClient<AppRouter>;
export type ChatStreamInput = Parameters<CreditgateClient['chat']['stream']['subscribe']>[0];

export interface ClientOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** A user API key (`cg_...`). */
  apiKey: string;
}

/**
 * A typed client over the gateway's tRPC router: queries and mutations over plain HTTP,
 * subscriptions (chat streaming) over server-sent events, every call with the Bearer key.
 */
export function createClient({ url, apiKey }: ClientOptions): CreditgateClient {
  const endpoint = `${url.replace(/\/+$/, '')}/trpc`;
  const headers = { authorization: `Bearer ${apiKey}` };

  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: endpoint,
          EventSource,
          // EventSource cannot set headers itself; its fetch hook can.
          eventSourceOptions: () => ({
            fetch: (input, init) =>
              fetch(input, { ...init, headers: { ...init?.headers, ...headers } }),
          }),
        }),
        false: httpLink({ url: endpoint, headers }),
      }),
    ],
  });
}

/**
 * Streams one chat completion as an async iterator of events: `start`, `chunk`s, then `done`
 * (usage and cost) or `error`. Breaking out of the loop, or aborting `signal`, cancels the
 * request upstream.
 */
export async function* streamChat(
  client: CreditgateClient,
  input: ChatStreamInput,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<ChatStreamEvent> {
  const queue: ChatStreamEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;

  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const subscription = client.chat.stream.subscribe(input, {
    onData: ({ data }) => {
      queue.push(data);
      if (data.type === 'done' || data.type === 'error') finished = true;
      notify();
    },
    onError: (error) => {
      failure = error;
      finished = true;
      notify();
    },
    onComplete: () => {
      finished = true;
      notify();
    },
  });
  const onAbort = () => {
    finished = true;
    notify();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    while (true) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (failure) throw failure;
      if (finished) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    subscription.unsubscribe();
  }
}
