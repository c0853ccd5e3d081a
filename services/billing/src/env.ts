import { DEFAULT_PG, DEFAULT_CATALOG_PATH, envField, loadEnv } from '@creditgate/runtime';
import { z } from 'zod';

/**
 * Per-million-token prices for metered custom endpoints, keyed by custom model id, with `*` as
 * the fallback for every other custom model. Channels left out follow the catalog's rules
 * (cache channels derive from input, reasoning from output).
 */
const customEndpointPrices = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === '') return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
      return z.NEVER;
    }
  })
  .pipe(
    z.record(
      z.string().min(1),
      z.object({
        input: z.union([z.string(), z.number()]).default('0'),
        output: z.union([z.string(), z.number()]).default('0'),
        cacheRead: z.union([z.string(), z.number()]).optional(),
        cacheWrite: z.union([z.string(), z.number()]).optional(),
        cacheWrite1h: z.union([z.string(), z.number()]).optional(),
        reasoning: z.union([z.string(), z.number()]).optional(),
      }),
    ),
  );
export type CustomEndpointPrices = z.infer<typeof customEndpointPrices>;

export const billingEnvSchema = z.object({
  BILLING_PORT: envField.port(8081),
  /** Loopback by default: billing must never face the public side (compose sets 0.0.0.0). */
  BILLING_HOST: z.string().min(1).default('127.0.0.1'),
  BILLING_DATABASE_URL: envField.url(`${DEFAULT_PG}/creditgate_billing`),
  /**
   * Connections in this process's pool. Authorize and settle run as batches (one statement
   * each), so a few connections per core saturate Postgres; more only queue on row locks.
   */
  BILLING_DB_POOL_SIZE: envField.positiveInt(10),
  SERVICE_TOKEN: envField.serviceToken(),
  METRICS_TOKEN: envField.metricsToken(),
  CATALOG_PATH: z.string().min(1).default(DEFAULT_CATALOG_PATH),
  HOLD_TTL_SECONDS: envField.positiveInt(600),
  HOLD_SWEEP_INTERVAL_MS: envField.ms(30_000),
  METER_CUSTOM_ENDPOINTS: envField.bool(false),
  CUSTOM_ENDPOINT_PRICES: customEndpointPrices,
  BYO_KEYS_ENABLED: envField.bool(true),
  LOG_LEVEL: envField.logLevel(),
  NODE_ENV: envField.nodeEnv(),
});

export type BillingEnv = z.infer<typeof billingEnvSchema>;

/** Parses the billing environment once; a bad value stops the process with one line per problem. */
export function loadBillingEnv(
  source: Record<string, string | undefined> = process.env,
): BillingEnv {
  return loadEnv(billingEnvSchema, source);
}
