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
}

/** Calls in one batch; billing accepts up to 256. */
const MAX_BATCH = 64;

/**
 * The tRPC links between our services, over kept-alive connections (see createServiceFetch).
 *
 * A call made while none of this client's calls is in flight leaves at once on its own. Calls
 * made while others are under way are batched: tRPC's batch link gathers what arrives within one
 * timer tick (a millisecond in Node) into one HTTP exchange, which is most of what a call costs
 * the server. So an idle gateway does not wait out the batch timer on every request's path, and
 * a loaded one still shares exchanges between concurrent requests. Each call gets its own answer
 * or error either way.
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
      true: httpBatchLink({
        url,
        maxItems: MAX_BATCH,
        headers: ({ opList }) => headers(opList),
        fetch,
      }),
      false: httpLink({ url, headers: ({ op }) => headers([op]), fetch }),
    }),
  ];
}
