import type { BillingRouter } from '@creditgate/billing';
import type { SettleInput, SettleResult, VoidInput } from '@creditgate/contracts';
import { serviceLinks } from '@creditgate/runtime/service-link';
import { createTRPCClient, TRPCClientError } from '@trpc/client';

export interface BillingClient {
  settle(input: SettleInput): Promise<SettleResult>;
  void(input: VoidInput): Promise<void>;
}

/**
 * The worker's view of billing: `settle` and `void` over tRPC with the service token (see
 * serviceLinks: kept-alive connections). Every call waits out the batch timer, so concurrent
 * jobs share exchanges and billing transactions: the client has heard its answer's end before
 * its settle leaves whenever the authorization carried its prices (see `finish` in
 * process-job), so that millisecond is nobody's wait. A call carries its request id as
 * `x-request-id` when it travels alone, so billing's log lines join the worker's.
 */
export function createBillingClient(
  url: string,
  serviceToken: string,
  timeoutMs = 10_000,
): BillingClient {
  const client = createTRPCClient<BillingRouter>({
    links: serviceLinks({
      url,
      serviceToken,
      // A billing that stops answering is a failed attempt (retried), not a job that hangs.
      timeoutMs,
      batching: 'always',
      requestIdOf: (op) => (op.input as { requestId?: unknown } | undefined)?.requestId,
    }),
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
