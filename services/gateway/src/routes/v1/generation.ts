import { requestId } from '@creditgate/contracts';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { traced } from '../../billing/client.js';
import type { GatewayDeps } from '../../deps.js';

const query = z.object({ id: requestId });

/**
 * `GET /v1/generation?id=<completion id>`: tokens per channel, cost, currency, route class and
 * status of one request, to its owner only (another user's id is answered like an unknown one).
 */
export function registerGeneration(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/generation', async (request) => {
    const { id } = query.parse(request.query);
    const record = await deps.billing.request.query(
      { requestId: id, userId: request.caller.userId },
      traced(request.id),
    );
    return { data: record };
  });
}
