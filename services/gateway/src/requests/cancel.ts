import { redisKeys } from '@creditgate/contracts';
import type { FastifyBaseLogger as Logger } from 'fastify';
import { traced } from '../billing/client.js';
import type { GatewayDeps } from '../deps.js';

/**
 * Stops a request whose client is gone (disconnect, timeout, shutdown). A job no worker has
 * taken yet is withdrawn and its hold voided, so it never runs; a running one is told to stop
 * through the cancel channel, and the worker settles what was produced as aborted.
 */
export async function cancelRequest(
  deps: Pick<GatewayDeps, 'queue' | 'redis' | 'billing' | 'env'>,
  requestId: string,
  reason: string,
  log: Logger,
): Promise<void> {
  try {
    if (await deps.queue.withdraw(requestId)) {
      await deps.billing.void.mutate({ requestId, reason }, traced(requestId));
      log.info({ reason }, 'request withdrawn before it ran');
      return;
    }
    await deps.redis.publish(redisKeys(deps.env.QUEUE_PREFIX).cancelChannel, requestId);
    log.info({ reason }, 'request cancelled');
  } catch (error) {
    log.error({ err: error, reason }, 'could not cancel the request');
  }
}
