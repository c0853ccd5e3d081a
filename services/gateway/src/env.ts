import { DEFAULT_PG, DEFAULT_REDIS, envField, loadEnv as parseEnv } from '@creditgate/runtime/env';
import { z } from 'zod';

const csv = z
  .string()
  .default('')
  .transform((text) =>
    text
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean),
  );

export const gatewayEnvSchema = z.object({
  PORT: envField.port(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  GATEWAY_DATABASE_URL: envField.url(`${DEFAULT_PG}/creditgate_gateway`),
  REDIS_URL: envField.url(DEFAULT_REDIS),
  QUEUE_PREFIX: envField.queuePrefix(),
  BILLING_URL: envField.url('http://127.0.0.1:8081'),
  SERVICE_TOKEN: envField.serviceToken(),
  METRICS_TOKEN: envField.metricsToken(),
  ENCRYPTION_KEY: envField.encryptionKey(),
  /** Retired encryption keys, comma separated; they still open what they sealed. */
  ENCRYPTION_KEYS_OLD: z.string().default(''),
  /** Catalog file; empty means the repository's `config/models.json`. */
  CATALOG_PATH: z.string().optional(),
  /** Hosts and CIDRs custom endpoints may point at despite the SSRF guard, comma separated. */
  CUSTOM_ENDPOINT_ALLOW: z.string().default(''),
  RATE_LIMIT_PER_MINUTE: envField.positiveInt(600),
  BODY_LIMIT_BYTES: envField.positiveInt(1024 * 1024),
  /** Browser origins allowed by CORS, comma separated; empty allows none. */
  CORS_ORIGINS: csv,
  BYO_KEYS_ENABLED: envField.bool(true),
  /** Longest wait for the next stream event before the request is cancelled. */
  STREAM_TIMEOUT_MS: envField.ms(120_000),
  /** How long open streams may run on after SIGTERM before they are cancelled. */
  SHUTDOWN_GRACE_MS: envField.ms(30_000),
  LOG_LEVEL: envField.logLevel(),
  NODE_ENV: envField.nodeEnv(),
});

export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;

/** Parses the gateway's environment once; a bad value stops the process with one line per problem. */
export function loadEnv(source: Record<string, string | undefined> = process.env): GatewayEnv {
  return parseEnv(gatewayEnvSchema, source);
}
