import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { tokensEqual } from './secrets.js';

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

interface MetricsReply {
  type(t: string): unknown;
  code(status: number): MetricsReply;
  send(body: unknown): unknown;
}

interface MetricsRequest {
  headers: Record<string, string | string[] | undefined>;
}

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
    options: { onRequest: (req: MetricsRequest, reply: MetricsReply) => Promise<unknown> },
    handler: (req: unknown, reply: MetricsReply) => unknown,
  ): unknown;
}

/**
 * Who may scrape `/metrics`: callers presenting the service token, or the operator's separate
 * `METRICS_TOKEN` (so a Prometheus outside the stack needs no credential that can call billing).
 */
export interface MetricsAccess {
  serviceToken: string;
  metricsToken?: string | undefined;
}

/** The token a scraper presents: `Authorization: Bearer <token>`, or `x-service-token`. */
function presentedToken(headers: MetricsRequest['headers']): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string' && /^bearer /i.test(authorization)) {
    return authorization.slice(7).trim();
  }
  const serviceToken = headers['x-service-token'];
  return typeof serviceToken === 'string' ? serviceToken : undefined;
}

/** True when the request carries one of the accepted tokens (compared in constant time). */
export function metricsAllowed(headers: MetricsRequest['headers'], access: MetricsAccess): boolean {
  const presented = presentedToken(headers);
  // Both comparisons always run, so the answer's timing does not say which token matched.
  const service = tokensEqual(presented, access.serviceToken);
  const operator = access.metricsToken ? tokensEqual(presented, access.metricsToken) : false;
  return service || operator;
}

/**
 * Records every response in the histogram and serves `GET /metrics`. Metrics describe traffic
 * (models, outcomes, queue depth), so they need a token like any other private surface; a
 * refusal is a 401 in the OpenAI error envelope every creditgate surface uses.
 */
export function installHttpMetrics(app: HookHost, metrics: Metrics, access: MetricsAccess): void {
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
  const guard = async (request: MetricsRequest, reply: MetricsReply) => {
    if (metricsAllowed(request.headers, access)) return;
    return reply.code(401).send({
      error: {
        message: 'metrics need Authorization: Bearer <SERVICE_TOKEN or METRICS_TOKEN>',
        type: 'authentication_error',
        code: 'invalid_api_key',
      },
    });
  };
  app.get('/metrics', { onRequest: guard }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
