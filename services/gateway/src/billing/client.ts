import type { BillingRouter } from '@creditgate/billing';
import { serviceLinks } from '@creditgate/runtime/service-link';
import { createTRPCClient, type TRPCClient } from '@trpc/client';

export type BillingClient = TRPCClient<BillingRouter>;

/**
 * The one billing client of a process (see serviceLinks: kept-alive connections, concurrent
 * calls batched). A call made with `traced(requestId)` sends the request id when it travels
 * alone, so billing's log lines join ours.
 */
export function createBillingClient(options: {
  url: string;
  serviceToken: string;
  timeoutMs?: number;
}): BillingClient {
  return createTRPCClient<BillingRouter>({
    links: serviceLinks({
      url: options.url,
      serviceToken: options.serviceToken,
      // A billing that stops answering must become a 503, not a request that hangs.
      timeoutMs: options.timeoutMs ?? 10_000,
      requestIdOf: (op) => (op.context as { requestId?: unknown }).requestId,
    }),
  });
}

/** Call options that tag a billing call with the request it belongs to. */
export function traced(requestId: string) {
  return { context: { requestId } };
}
