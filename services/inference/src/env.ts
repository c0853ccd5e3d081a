import { DEFAULT_REDIS, envField, loadEnv as parseEnv, parseAllowlist } from '@creditgate/runtime';
import { z } from 'zod';

const optionalSecret = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() ? value.trim() : undefined));

export const inferenceEnvSchema = z.object({
  INFERENCE_PORT: envField.port(8082),
  INFERENCE_HOST: z.string().min(1).default('0.0.0.0'),
  REDIS_URL: envField.url(DEFAULT_REDIS),
  QUEUE_PREFIX: envField.queuePrefix(),
  BILLING_URL: envField.url('http://127.0.0.1:8081'),
  SERVICE_TOKEN: envField.serviceToken(),
  METRICS_TOKEN: envField.metricsToken(),
  ENCRYPTION_KEY: envField.encryptionKey(),
  /** Retired encryption keys, comma separated; they still open what they sealed. */
  ENCRYPTION_KEYS_OLD: z.string().default(''),
  /** Jobs one worker process runs at once; streams mostly wait on the network. */
  WORKER_CONCURRENCY: envField.positiveInt(50),
  /**
   * How long a job's lock lives without renewal, and how often stalled jobs (their worker died)
   * are looked for. A dead worker's job is picked up again after roughly lock + 2 intervals.
   */
  WORKER_LOCK_DURATION_MS: envField.ms(30_000),
  WORKER_STALLED_INTERVAL_MS: envField.ms(30_000),

  OPENAI_API_KEY: optionalSecret,
  OPENAI_BASE_URL: envField.url('https://api.openai.com/v1'),
  OPENROUTER_API_KEY: optionalSecret,
  OPENROUTER_BASE_URL: envField.url('https://openrouter.ai/api/v1'),
  ANTHROPIC_API_KEY: optionalSecret,
  ANTHROPIC_BASE_URL: envField.url('https://api.anthropic.com'),

  /** Hosts and CIDRs custom endpoints may reach despite the SSRF guard, comma separated. */
  CUSTOM_ENDPOINT_ALLOW: z
    .string()
    .default('')
    .transform((text, ctx) => {
      try {
        return parseAllowlist(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** Must match billing's setting: metered custom endpoints are approved with a balance reason. */
  METER_CUSTOM_ENDPOINTS: envField.bool(false),

  UPSTREAM_CONNECT_TIMEOUT_MS: envField.ms(10_000),
  /** From the first attempt to the first streamed chunk, retries included. */
  UPSTREAM_FIRST_TOKEN_TIMEOUT_MS: envField.ms(120_000),
  /** Longest silence between two stream events once tokens flow. */
  UPSTREAM_IDLE_TIMEOUT_MS: envField.ms(60_000),
  /** Retries of a 429, 5xx or failed connection before the first token; never after it. */
  UPSTREAM_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  /** After SIGTERM, how long active jobs may run on before they are aborted. */
  SHUTDOWN_GRACE_MS: envField.ms(30_000),
  LOG_LEVEL: envField.logLevel(),
  NODE_ENV: envField.nodeEnv(),
});

export type InferenceEnv = z.infer<typeof inferenceEnvSchema>;

/** Parses the worker's environment once; a bad value stops the process with one line per problem. */
export function loadEnv(source: Record<string, string | undefined> = process.env): InferenceEnv {
  return parseEnv(inferenceEnvSchema, source);
}
