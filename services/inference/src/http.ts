import { installHttpMetrics, tokensEqual } from '@creditgate/runtime';
import Fastify, { type FastifyInstance } from 'fastify';
import type { InferenceMetrics } from './metrics.js';

export interface HealthProbe {
  /** True while the worker takes jobs and Redis answers. */
  ready(): Promise<boolean>;
}

/**
 * The worker's own HTTP surface: `/healthz` (the process is up), `/readyz` (taking jobs, Redis
 * reachable) and `/metrics`. The probes say nothing beyond ok / not ok, so they are open to the
 * orchestrator; `/metrics` describes traffic and needs the service token.
 */
export function buildHttpServer(
  metrics: InferenceMetrics,
  probe: HealthProbe,
  serviceToken: string,
): FastifyInstance {
  const app = Fastify({ logger: false });

  app.addHook('onRequest', async (request, reply) => {
    if (request.url !== '/metrics' && !request.url.startsWith('/metrics?')) return;
    const header = request.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    const presented = (request.headers['x-service-token'] as string | undefined) ?? bearer;
    if (!tokensEqual(presented, serviceToken)) {
      await reply
        .code(401)
        .send({ error: { code: 'invalid_api_key', message: 'service token required' } });
    }
  });

  installHttpMetrics(app, metrics);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await probe.ready().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable' });
  });
  return app;
}
