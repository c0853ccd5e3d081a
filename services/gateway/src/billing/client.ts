import type { BillingRouter } from '@creditgate/billing';
import { createServiceFetch } from '@creditgate/runtime/service-fetch';
import { createTRPCClient, httpBatchLink, type TRPCClient } from '@trpc/client';

export type BillingClient = TRPCClient<BillingRouter>;

/** Calls in one batch; billing accepts up to 256. */
const MAX_BATCH = 64;

/**
 * The one billing client of a process, over kept-alive connections (see createServiceFetch).
 * Calls made within the same timer tick leave as one tRPC batch: under load, concurrent
 * requests' authorizations share one HTTP exchange, which is most of what a call costs billing.
 * Each call still gets its own answer or error. A call made with `traced(requestId)` sends the
 * request id when it travels alone, so billing's log lines join ours.
 */
export function createBillingClient(options: {
  url: string;
  serviceToken: string;
  timeoutMs?: number;
}): BillingClient {
  const timeoutMs = options.timeoutMs ?? 10_000;

  return createTRPCClient<BillingRouter>({
    links: [
      httpBatchLink({
        url: `${options.url.replace(/\/+$/, '')}/trpc`,
        maxItems: MAX_BATCH,
        headers: ({ opList }) => {
          const requestId =
            opList.length === 1
              ? (opList[0]!.context as { requestId?: unknown }).requestId
              : undefined;
          return {
            'x-service-token': options.serviceToken,
            ...(typeof requestId === 'string' ? { 'x-request-id': requestId } : {}),
          };
        },
        // A billing that stops answering must become a 503, not a request that hangs.
        fetch: createServiceFetch({ timeoutMs }),
      }),
    ],
  });
}

/** Call options that tag a billing call with the request it belongs to. */
export function traced(requestId: string) {
  return { context: { requestId } };
}
