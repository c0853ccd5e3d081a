import type { Catalog } from '@creditgate/contracts';
import {
  createKeyring,
  createLogger,
  loadCatalog,
  parseAllowlist,
  type Keyring,
  type Logger,
  type Resolver,
} from '@creditgate/runtime';
import { Redis } from 'ioredis';
import { Authenticator } from './auth/authenticate.js';
import { createBillingClient, type BillingClient } from './billing/client.js';
import { createDatabase, type PrismaClient, type Sql } from './db.js';
import type { GatewayEnv } from './env.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import type { BaseUrlGuard } from './models/base-url-guard.js';
import { createInferenceQueue, type InferenceQueue } from './queue/inference-queue.js';
import { warmUpTokenizer } from './requests/prompt-tokens.js';
import { BlockingConnectionPool } from './streaming/blocking-pool.js';
import { InFlightStreams } from './streaming/in-flight.js';
import { ReadStreamTrimmer } from './streaming/trimmer.js';

/** Everything a request handler may need, built once per process. */
export interface GatewayDeps {
  env: GatewayEnv;
  logger: Logger;
  prisma: PrismaClient;
  /** Prepared statements for the per-request lookups, on Prisma's pool. */
  sql: Sql;
  /** Commands (publish, scan, rate limit, queue adds); fails fast when Redis is down. */
  redis: Redis;
  streams: BlockingConnectionPool;
  trimmer: ReadStreamTrimmer;
  queue: InferenceQueue;
  billing: BillingClient;
  catalog: Catalog;
  keyring: Keyring;
  guard: BaseUrlGuard;
  auth: Authenticator;
  metrics: GatewayMetrics;
  inFlight: InFlightStreams;
  close(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  /** DNS resolver for the SSRF guard; tests point names at chosen addresses. */
  resolve?: Resolver;
}

export async function createDeps(
  env: GatewayEnv,
  options: GatewayOptions = {},
): Promise<GatewayDeps> {
  const logger =
    options.logger ??
    createLogger({
      service: 'gateway',
      level: env.LOG_LEVEL,
      pretty: env.NODE_ENV === 'development',
    });

  // Configuration first: a bad catalog or key stops the start before any connection is opened.
  const catalog = loadCatalog(env.CATALOG_PATH);
  const keyring = createKeyring(env.ENCRYPTION_KEY, env.ENCRYPTION_KEYS_OLD);
  const allow = parseAllowlist(env.CUSTOM_ENDPOINT_ALLOW);

  // Fail fast instead of queueing commands while disconnected: a request that needs Redis
  // during an outage gets a 503 now rather than hanging until ioredis gives up. Commands of
  // concurrent requests issued in the same tick (rate limit windows, queue adds) leave in one
  // write: a socket write costs more than the command itself.
  const redis = new Redis(env.REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'gateway',
    enableAutoPipelining: true,
  });
  redis.on('error', (error) => logger.warn({ err: error.message }, 'redis connection error'));
  await redis.connect();

  const database = createDatabase(env.GATEWAY_DATABASE_URL);
  const { prisma, sql } = database;
  const queue = createInferenceQueue(redis, env.QUEUE_PREFIX);
  const streams = new BlockingConnectionPool(env.REDIS_URL);
  const trimmer = new ReadStreamTrimmer(redis, logger);
  warmUpTokenizer();

  return {
    env,
    logger,
    prisma,
    sql,
    redis,
    streams,
    trimmer,
    queue,
    billing: createBillingClient({ url: env.BILLING_URL, serviceToken: env.SERVICE_TOKEN }),
    catalog,
    keyring,
    guard: { allow, resolve: options.resolve },
    auth: new Authenticator(prisma, sql, { readProviderKeys: env.BYO_KEYS_ENABLED }),
    metrics: createGatewayMetrics(queue),
    inFlight: new InFlightStreams(),
    async close() {
      streams.close();
      await trimmer.flush();
      await queue.close().catch(() => {});
      redis.disconnect();
      await database.close();
    },
  };
}
