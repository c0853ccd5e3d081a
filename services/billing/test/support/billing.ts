import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '@creditgate/runtime';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { createTestDatabase } from '../../../../test/support/backends.js';
import {
  billingEnvSchema,
  startBilling,
  type BillingRouter,
  type StartOptions,
} from '../../src/index.js';

export const SERVICE_TOKEN = 'billing-test-service-token-0123456789';

/**
 * Round prices so ceilings are easy to reason about: every channel costs 1 credit per million
 * tokens (1,000 minor units per token), so 5,000 prompt + 5,000 output tokens cost exactly 0.01.
 */
export const FLAT = {
  input: '1',
  output: '1',
  cacheRead: '1',
  cacheWrite: '1',
  cacheWrite1h: '1',
  reasoning: '1',
};

export const TEST_CATALOG = {
  models: [
    {
      id: 'flat',
      provider: 'openai',
      providerModelId: 'flat',
      maxOutputTokens: 5000,
      prices: FLAT,
    },
    {
      id: 'claude-flat',
      provider: 'anthropic',
      providerModelId: 'claude-flat',
      maxOutputTokens: 5000,
      currencies: ['claude-credit'],
      prices: FLAT,
    },
    {
      id: 'pricey',
      provider: 'openai',
      providerModelId: 'pricey',
      maxOutputTokens: 100_000,
      prices: { input: '2', output: '10' },
    },
  ],
};

/** A mutable clock for expiry tests. */
export function testClock(start = new Date('2030-01-01T00:00:00Z')) {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advance(ms: number) {
      current += ms;
    },
  };
}

export function writeCatalog(catalog: object = TEST_CATALOG) {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-catalog-'));
  const file = path.join(dir, 'models.json');
  writeFileSync(file, JSON.stringify(catalog));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function billingClient(
  url: string,
  headers: Record<string, string> = { 'x-service-token': SERVICE_TOKEN },
) {
  return createTRPCClient<BillingRouter>({ links: [httpLink({ url: `${url}/trpc`, headers })] });
}
export type BillingClient = ReturnType<typeof billingClient>;

/**
 * The real billing service on loopback over this file's own database, with the test catalog,
 * and a real tRPC client. `env` overrides any variable; `close()` stops it and drops the database.
 */
export async function startTestBilling(
  env: Record<string, string> = {},
  options: StartOptions = {},
) {
  const database = await createTestDatabase('billing');
  const catalog = writeCatalog();
  const billingEnv = billingEnvSchema.parse({
    BILLING_PORT: '0',
    BILLING_HOST: '127.0.0.1',
    BILLING_DATABASE_URL: database.url,
    SERVICE_TOKEN,
    CATALOG_PATH: catalog.file,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    ...env,
  });
  const billing = await startBilling(billingEnv, {
    logger: createLogger({ service: 'billing', level: 'silent', pretty: false }),
    sweeper: false,
    ...options,
  });

  return {
    billing,
    client: billingClient(billing.url),
    env: billingEnv,
    databaseUrl: database.url,
    catalogPath: catalog.file,
    /** The Prometheus text billing serves on `/metrics`. */
    async metrics() {
      const response = await fetch(`${billing.url}/metrics`, {
        headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
      });
      return response.text();
    },
    async close() {
      await billing.close();
      await database.drop();
      catalog.remove();
    },
  };
}

/** The stable error code billing put in `error.data.appCode`, or the tRPC code. */
export async function errorOf(call: Promise<unknown>) {
  try {
    await call;
  } catch (error) {
    if (error instanceof TRPCClientError) {
      const data = error.data as { code: string; httpStatus: number; appCode?: string };
      return {
        code: data.code,
        status: data.httpStatus,
        appCode: data.appCode,
        message: error.message,
      };
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

let counter = 0;
/** A request id unique within the run. */
export function requestIdFor(label = 'req') {
  counter += 1;
  return `${label}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

/** The authorize input of a `flat` request whose ceiling is exactly 0.01 credit. */
export function centRequest(userId: string, requestId = requestIdFor()) {
  return {
    requestId,
    userId,
    modelId: 'flat',
    routeClass: 'platform' as const,
    promptTokens: 5000,
    maxOutputTokens: 5000,
  };
}
