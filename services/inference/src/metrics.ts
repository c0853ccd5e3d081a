import { createMetrics } from '@creditgate/runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The worker's registry: process and HTTP metrics from the runtime, plus the job metrics. */
export function createInferenceMetrics() {
  const base = createMetrics('inference');
  const registers = [base.registry];

  return {
    ...base,
    jobDuration: new Histogram({
      name: 'inference_job_duration_seconds',
      help: 'Time from job start to its terminal event, by provider and outcome',
      labelNames: ['provider', 'outcome'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: 'inference_time_to_first_token_seconds',
      help: 'Time from the first upstream attempt to the first forwarded chunk, by provider',
      labelNames: ['provider'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'inference_upstream_errors_total',
      help: 'Failed upstream attempts (retried or not), by provider and kind',
      labelNames: ['provider', 'kind'] as const,
      registers,
    }),
    activeJobs: new Gauge({
      name: 'inference_active_jobs',
      help: 'Jobs this worker process is running',
      registers,
    }),
  };
}

export type InferenceMetrics = ReturnType<typeof createInferenceMetrics>;
