import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** One registry per process, with process metrics and the HTTP duration histogram. */
export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
    registers: [registry],
  });

  return { registry, httpDuration };
}
export type Metrics = ReturnType<typeof createMetrics>;

/** The slice of a Fastify instance the HTTP metrics need (kept structural: no fastify import). */
interface HookHost {
  addHook(
    name: 'onResponse',
    hook: (
      request: { method: string; routeOptions: { url?: string } },
      reply: { statusCode: number; elapsedTime: number },
    ) => Promise<void>,
  ): unknown;
  get(
    path: string,
    handler: (req: unknown, reply: { type(t: string): unknown }) => unknown,
  ): unknown;
}

/** Records every response in the histogram and serves `GET /metrics`. */
export function installHttpMetrics(app: HookHost, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
