import { z } from 'zod';

/**
 * Parses the environment once at boot. A missing or malformed value stops the process with
 * one clear line per problem, naming the variable but never echoing its value (it may be a secret).
 */
export function loadEnv<T extends z.ZodType>(
  schema: T,
  source: Record<string, string | undefined> = process.env,
): z.infer<T> {
  const problems = developmentSecretsInProduction(schema, source);
  const result = schema.safeParse(source);
  if (result.success && problems.length === 0) return result.data;

  for (const issue of result.error?.issues ?? []) {
    problems.push(`${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  }
  for (const problem of problems) process.stderr.write(`config error: ${problem}\n`);
  process.exit(1);
}

/** Secrets whose development defaults must never reach production. */
const SECRETS_WITH_DEV_DEFAULTS = ['SERVICE_TOKEN', 'ENCRYPTION_KEY'];

/**
 * The development defaults of the shared secrets let a fresh clone start with no set-up; in
 * production they would make every deployment share one known token and key, so there each
 * must be set explicitly.
 */
function developmentSecretsInProduction(
  schema: z.ZodType,
  source: Record<string, string | undefined>,
): string[] {
  if (source.NODE_ENV !== 'production' || !(schema instanceof z.ZodObject)) return [];
  return SECRETS_WITH_DEV_DEFAULTS.filter(
    (name) => name in schema.shape && !source[name]?.trim(),
  ).map((name) => `${name}: must be set when NODE_ENV=production`);
}

/** Reusable pieces of the environment schemas. */
export const envField = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback),
  url: (fallback: string) => z.url().default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  logLevel: () =>
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  nodeEnv: () => z.enum(['development', 'production', 'test']).default('development'),
  serviceToken: () =>
    z.string().min(16, 'must be at least 16 characters').default('dev-service-token-change-me'),
  /** A token that may read `/metrics` and nothing else; unset, only the service token may. */
  metricsToken: () =>
    z
      .string()
      .optional()
      .transform((value) => (value?.trim() ? value.trim() : undefined))
      .pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  encryptionKey: () =>
    z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
      .default(Buffer.alloc(32, 7).toString('base64')),
  /** Prefix of every Redis key the stack writes; gateway and workers must agree on it. */
  queuePrefix: () =>
    z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits or _ . : -')
      .default('creditgate'),
  ms: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
};

export const DEFAULT_PG = 'postgresql://postgres:postgres@127.0.0.1:5432';
export const DEFAULT_REDIS = 'redis://127.0.0.1:6379';
