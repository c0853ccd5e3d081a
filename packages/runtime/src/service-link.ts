import { httpBatchLink, httpLink, splitLink, type Operation, type TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import { createServiceFetch } from './service-fetch.js';

export interface ServiceLinkOptions {
  /** The service's base URL; calls go to `<url>/trpc`. */
  url: string;
  serviceToken: string;
  /** Longest wait for an answer; see createServiceFetch. */
  timeoutMs: number;
  /** The request a call belongs to, sent as `x-request-id` when the call travels alone. */
  requestIdOf(op: Operation): unknown;
  /**
   * `when-busy` (the default): a call made while none of this client's calls is in flight leaves
   * at once, for calls on a client's path. `always`: every call waits out the batch timer, for
   * calls no client waits on, which then share exchanges (and billing transactions) more often.
   */
  batching?: 'when-busy' | 'always';
}

/** Calls in one batch; billing accepts up to 256. */
const MAX_BATCH = 64;

/**
 * The tRPC links between our services, over kept-alive connections (see createServiceFetch).
 *
 * Calls are batched: tRPC's batch link gathers what arrives within one timer tick (a millisecond
 * in Node) into one HTTP exchange, which is most of what a call costs the server, and billing
 * runs the calls of one exchange in one transaction. With `batching: 'when-busy'` a call made
 * while none of this client's calls is in flight leaves at once on its own, so an idle gateway
 * does not wait out the batch timer on every request's path. Each call gets its own answer or
 * error either way.
 */
export function serviceLinks(options: ServiceLinkOptions): TRPCLink<AnyRouter>[] {
  const url = `${options.url.replace(/\/+$/, '')}/trpc`;
  const fetch = createServiceFetch({ timeoutMs: options.timeoutMs });
  const headers = (ops: readonly Operation[]) => {
    const requestId = ops.length === 1 ? options.requestIdOf(ops[0]!) : undefined;
    return {
      'x-service-token': options.serviceToken,
      ...(typeof requestId === 'string' ? { 'x-request-id': requestId } : {}),
    };
  };

  const batched = httpBatchLink({
    url,
    maxItems: MAX_BATCH,
    headers: ({ opList }) => headers(opList),
    fetch,
  });
  if (options.batching === 'always') return [batched];

  // Calls between their start and their answer, the current one included.
  let inFlight = 0;
  const countInFlight: TRPCLink<AnyRouter> =
    () =>
    ({ op, next }) =>
      observable((observer) => {
        inFlight += 1;
        let subscription: Unsubscribable;
        try {
          subscription = next(op).subscribe(observer);
        } catch (error) {
          inFlight -= 1;
          throw error;
        }
        return () => {
          inFlight -= 1;
          subscription.unsubscribe();
        };
      });

  return [
    countInFlight,
    splitLink({
      condition: () => inFlight > 1,
      true: batched,
      false: httpLink({ url, headers: ({ op }) => headers([op]), fetch }),
    }),
  ];
}
