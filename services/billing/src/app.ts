import { createLogger, loadCatalog, installHttpMetrics, type Logger } from '@creditgate/runtime';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify, { LogController } from 'fastify';
import { createDatabase, type Database } from './db.js';
import type { BillingEnv } from './env.js';
import { createLedger, type Clock, type Ledger } from './ledger/index.js';
import { createBillingMetrics } from './metrics.js';
import { appRouter, type BillingRouter } from './routers/index.js';
import { startSweeper } from './sweeper.js';
import { contextFactory, MAX_BATCH_SIZE } from './trpc.js';

export interface StartOptions {
  /** Clock for holds, expiry and capabilities; tests inject one. */
  now?: Clock;
  logger?: Logger;
  /** Run the periodic hold sweeper (default true). */
  sweeper?: boolean;
}

export interface BillingServer {
  url: string;
  port: number;
  app: ReturnType<typeof Fastify>;
  ledger: Ledger;
  close(): Promise<void>;
}

/** Starts the billing service: ledger, tRPC on /trpc, health, readiness and metrics. */
export async function startBilling(
  env: BillingEnv,
  options: StartOptions = {},
): Promise<BillingServer> {
  const logger =
    options.logger ??
    createLogger({
      service: 'billing',
      level: env.LOG_LEVEL,
      pretty: env.NODE_ENV === 'development',
    });
  const database = createDatabase(env.BILLING_DATABASE_URL, env.BILLING_DB_POOL_SIZE);
  try {
    return await serve(env, options, logger, database);
  } catch (error) {
    await database.close();
    throw error;
  }
}

async function serve(
  env: BillingEnv,
  options: StartOptions,
  logger: Logger,
  database: Database,
): Promise<BillingServer> {
  const db = database.prisma;
  const metrics = createBillingMetrics(db);
  const batchCounters = {
    authorize: [
      metrics.ledgerBatches.labels('authorize'),
      metrics.ledgerBatchItems.labels('authorize'),
    ],
    settle: [metrics.ledgerBatches.labels('settle'), metrics.ledgerBatchItems.labels('settle')],
  } as const;
  const ledger = await createLedger(database, {
    catalog: loadCatalog(env.CATALOG_PATH),
    customEndpointPrices: env.CUSTOM_ENDPOINT_PRICES,
    meterCustomEndpoints: env.METER_CUSTOM_ENDPOINTS,
    byoKeysEnabled: env.BYO_KEYS_ENABLED,
    holdTtlSeconds: env.HOLD_TTL_SECONDS,
    now: options.now,
    onBatch(kind, size) {
      const [batches, items] = batchCounters[kind];
      batches.inc();
      items.inc(size);
    },
  });

  // Requests are logged once, by tRPC's onError or the procedures themselves: a line per call
  // at thousands of calls per second would cost more than the calls. The long parameter limit
  // lets batched queries name several procedures in one path.
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 5000 },
  });
  installHttpMetrics(app, metrics, {
    serviceToken: env.SERVICE_TOKEN,
    metricsToken: env.METRICS_TOKEN,
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await db.$queryRaw`SELECT 1`;
      return { status: 'ready' };
    } catch (err) {
      logger.warn({ err }, 'database unreachable');
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });
  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      maxBatchSize: MAX_BATCH_SIZE,
      createContext: contextFactory({ ledger, metrics, serviceToken: env.SERVICE_TOKEN, logger }),
      onError({ error, path, ctx }) {
        const log = ctx?.log ?? logger;
        if (error.code === 'INTERNAL_SERVER_ERROR') {
          log.error({ err: error.cause ?? error, path }, 'procedure failed');
        } else {
          log.info({ path, code: error.code, message: error.message }, 'procedure refused');
        }
      },
    },
  } satisfies FastifyTRPCPluginOptions<BillingRouter>);

  await app.listen({ host: env.BILLING_HOST, port: env.BILLING_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.BILLING_PORT;
  const host =
    env.BILLING_HOST === '0.0.0.0' || env.BILLING_HOST === '::' ? '127.0.0.1' : env.BILLING_HOST;
  const sweeper =
    options.sweeper === false
      ? undefined
      : startSweeper(ledger, env.HOLD_SWEEP_INTERVAL_MS, logger);

  return {
    url: `http://${host}:${port}`,
    port,
    app,
    ledger,
    async close() {
      await sweeper?.stop();
      await app.close();
      await database.close();
    },
  };
}
