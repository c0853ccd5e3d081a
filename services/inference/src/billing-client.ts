import type { BillingRouter } from '@creditgate/billing';
import type { SettleInput, SettleResult, VoidInput } from '@creditgate/contracts';
import { createServiceFetch } from '@creditgate/runtime';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';

export interface BillingClient {
  settle(input: SettleInput): Promise<SettleResult>;
  void(input: VoidInput): Promise<void>;
}

/** Calls in one batch; billing accepts up to 256. */
const MAX_BATCH = 64;

/**
 * The worker's view of billing: `settle` and `void` over tRPC with the service token, on
 * kept-alive plain HTTP (far cheaper per call than the global fetch, see the runtime). Calls of
 * the same timer tick (concurrent jobs finishing together) leave as one tRPC batch, each with its
 * own answer or error. A call that travels alone carries its request id as `x-request-id`, so
 * billing's log lines join the worker's.
 */
export function createBillingClient(
  url: string,
  serviceToken: string,
  timeoutMs = 10_000,
): BillingClient {
  const client = createTRPCClient<BillingRouter>({
    links: [
      httpBatchLink({
        url: `${url.replace(/\/+$/, '')}/trpc`,
        maxItems: MAX_BATCH,
        headers: ({ opList }) => {
          const requestId =
            opList.length === 1
              ? (opList[0]!.input as { requestId?: unknown } | undefined)?.requestId
              : undefined;
          return {
            'x-service-token': serviceToken,
            ...(typeof requestId === 'string' ? { 'x-request-id': requestId } : {}),
          };
        },
        // A billing that stops answering is a failed attempt (retried), not a job that hangs.
        fetch: createServiceFetch({ timeoutMs }),
      }),
    ],
  });

  return {
    settle: (input) => client.settle.mutate(input),
    void: async (input) => {
      await client.void.mutate(input);
    },
  };
}

/**
 * What a failed billing call means for the worker: worth retrying (billing unreachable or
 * failing), already done differently (the request id was settled or voided before: the first
 * call stands), or refused for good.
 */
export function billingFailureKind(error: unknown): 'transient' | 'conflict' | 'refused' {
  if (!(error instanceof TRPCClientError)) return 'transient';
  const data = error.data as { code?: string; httpStatus?: number } | undefined;
  if (!data) return 'transient';
  if (data.code === 'CONFLICT') return 'conflict';
  if ((data.httpStatus ?? 500) >= 500 || data.code === 'TOO_MANY_REQUESTS') return 'transient';
  return 'refused';
}
