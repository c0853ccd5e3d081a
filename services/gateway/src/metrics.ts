import { createMetrics } from '@creditgate/runtime';
import { Counter, Gauge } from 'prom-client';
import type { InferenceQueue } from './queue/inference-queue.js';

/** The gateway's metrics on top of the shared HTTP histogram and process metrics. */
export function createGatewayMetrics(queue: Pick<InferenceQueue, 'counts'>) {
  const base = createMetrics('gateway');
  const registers = [base.registry];

  const authorizations = new Counter({
    name: 'gateway_authorizations_total',
    help: 'Billing authorizations by decision and reason',
    labelNames: ['decision', 'reason'] as const,
    registers,
  });

  const requests = new Counter({
    name: 'gateway_chat_requests_total',
    help: 'Chat completion requests by outcome and route class',
    labelNames: ['outcome', 'route_class'] as const,
    registers,
  });

  const openStreams = new Gauge({
    name: 'gateway_open_streams',
    help: 'Responses currently relaying a model stream',
    registers,
  });

  // Read from BullMQ on each scrape; a Redis outage leaves the last values instead of failing.
  new Gauge({
    name: 'gateway_queue_jobs',
    help: 'Inference queue jobs by state, read on scrape',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      const counts = await queue.counts().catch(() => undefined);
      if (!counts) return;
      for (const [state, value] of Object.entries(counts)) this.set({ state }, value);
    },
  });

  return { ...base, authorizations, requests, openStreams };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
