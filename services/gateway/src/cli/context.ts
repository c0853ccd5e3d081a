import { createKeyring, type Keyring } from '@creditgate/runtime/secrets';
import { createBillingClient, type BillingClient } from '../billing/client.js';
import { createPrisma, type PrismaClient } from '../db.js';
import { loadEnv, type GatewayEnv } from '../env.js';

/*
 * The CLI imports only the runtime pieces it needs (`/env`, `/secrets`): loading the whole
 * runtime (logger, metrics, SSRF guard) would add most of a second to every command.
 */

/** What CLI commands use: the gateway's own database, billing's API and the keyring. */
export interface CliContext {
  env: GatewayEnv;
  prisma: PrismaClient;
  billing: BillingClient;
  keyring: Keyring;
  close(): Promise<void>;
}

/** Same environment as the gateway (GATEWAY_DATABASE_URL, BILLING_URL, SERVICE_TOKEN, keys). */
export function openCliContext(): CliContext {
  const env = loadEnv();
  const prisma = createPrisma(env.GATEWAY_DATABASE_URL);
  return {
    env,
    prisma,
    billing: createBillingClient({ url: env.BILLING_URL, serviceToken: env.SERVICE_TOKEN }),
    keyring: createKeyring(env.ENCRYPTION_KEY, env.ENCRYPTION_KEYS_OLD),
    close: () => prisma.$disconnect(),
  };
}
