import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLogger,
  ensureDatabase,
  hasPendingMigrations,
  migrateDatabase,
} from '@creditgate/runtime';
import { startBilling } from './app.js';
import { loadBillingEnv } from './env.js';

const serviceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const env = loadBillingEnv();
const logger = createLogger({
  service: 'billing',
  level: env.LOG_LEVEL,
  pretty: env.NODE_ENV === 'development',
});

try {
  await ensureDatabase(env.BILLING_DATABASE_URL);
  if (await hasPendingMigrations(serviceDir, env.BILLING_DATABASE_URL)) {
    logger.info('applying database migrations');
    await migrateDatabase(serviceDir, 'BILLING_DATABASE_URL', env.BILLING_DATABASE_URL);
  }
  const billing = await startBilling(env, { logger });
  logger.info({ url: billing.url, port: billing.port }, 'billing listening');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'billing shutting down');
    billing.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'billing did not shut down cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  logger.fatal({ err }, 'billing failed to start');
  process.exit(1);
}
