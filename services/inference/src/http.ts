import { installHttpMetrics, type MetricsAccess } from '@creditgate/runtime';
import Fastify, { type FastifyInstance } from 'fastify';
import type { InferenceMetrics } from './metrics.js';

export interface HealthProbe {
  /** True while the worker takes jobs and Redis answers. */
  ready(): Promise<boolean>;
}

/**
 * The worker's own HTTP surface: `/healthz` (the process is up), `/readyz` (taking jobs, Redis
 * reachable) and `/metrics`. The probes say nothing beyond ok / not ok, so they are open to the
 * orchestrator; `/metrics` describes traffic and needs the service token or METRICS_TOKEN.
 */
export function buildHttpServer(
  metrics: InferenceMetrics,
  probe: HealthProbe,
  access: MetricsAccess,
): FastifyInstance {
  const app = Fastify({ logger: false });

  installHttpMetrics(app, metrics, access);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await probe.ready().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' });
  });
  return app;
}
