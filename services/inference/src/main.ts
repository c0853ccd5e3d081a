import { createLogger } from '@creditgate/runtime';
import { startInference } from './app.js';
import { loadEnv } from './env.js';

const env = loadEnv();
const logger = createLogger({
  service: 'inference',
  level: env.LOG_LEVEL,
  pretty: env.NODE_ENV === 'development',
});
const worker = await startInference(env, { logger });

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutdown requested');
  worker.close().then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
