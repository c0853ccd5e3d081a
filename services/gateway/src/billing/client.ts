import type { BillingRouter } from '@creditgate/billing';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';

export type BillingClient = TRPCClient<BillingRouter>;

/**
 * The one billing client of a process. Every call carries the service token and, when the
 * caller passes `traced(requestId)` as call options, the request id, so billing's log lines
 * join ours. Node's fetch keeps connections to billing alive between calls. Plain `httpLink`
 * (no batching): each call on the request path maps to exactly one billing answer.
 */
export function createBillingClient(options: {
  url: string;
  serviceToken: string;
  timeoutMs?: number;
}): BillingClient {
  const timeoutMs = options.timeoutMs ?? 10_000;

  return createTRPCClient<BillingRouter>({
    links: [
      httpLink({
        url: `${options.url.replace(/\/+$/, '')}/trpc`,
        headers: ({ op }) => {
          const requestId = (op.context as { requestId?: unknown }).requestId;
          return {
            'x-service-token': options.serviceToken,
            ...(typeof requestId === 'string' ? { 'x-request-id': requestId } : {}),
          };
        },
        // A billing that stops answering must become a 503, not a request that hangs.
        fetch: (input, init) => {
          const timeout = AbortSignal.timeout(timeoutMs);
          const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
          return fetch(input, { ...(init as RequestInit), signal });
        },
      }),
    ],
  });
}

/** Call options that tag a billing call with the request it belongs to. */
export function traced(requestId: string) {
  return { context: { requestId } };
}
