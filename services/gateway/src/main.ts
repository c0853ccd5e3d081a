import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDatabase, hasPendingMigrations, migrateDatabase } from '@creditgate/runtime';
import { startGateway, type Gateway } from './app.js';
import { loadEnv } from './env.js';

/** The gateway's folder, where `prisma.config.ts` and the migrations live. */
const serviceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const env = loadEnv();

let gateway: Gateway;
try {
  await ensureDatabase(env.GATEWAY_DATABASE_URL);
  if (await hasPendingMigrations(serviceDir, env.GATEWAY_DATABASE_URL)) {
    await migrateDatabase(serviceDir, 'GATEWAY_DATABASE_URL', env.GATEWAY_DATABASE_URL);
  }
  gateway = await startGateway(env);
} catch (error) {
  process.stderr.write(`gateway: cannot start: ${(error as Error).message}\n`);
  process.exit(1);
}

/**
 * SIGTERM/SIGINT: stop accepting, let open streams finish for SHUTDOWN_GRACE_MS, then cancel
 * what is left (the worker settles those as aborted) and exit.
 */
let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  gateway.deps.logger.info({ signal }, 'stopping');
  try {
    await gateway.close();
    process.exit(0);
  } catch (error) {
    gateway.deps.logger.error({ err: error }, 'unclean shutdown');
    process.exit(1);
  }
}

process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
