import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { billingEnvSchema, startBilling } from '@creditgate/billing';
import { INFERENCE_QUEUE, redisKeys } from '@creditgate/contracts';
import type { InferenceHandle } from '@creditgate/inference';
import { createLogger, type Resolver } from '@creditgate/runtime';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { Queue } from 'bullmq';
import { EventSource } from 'eventsource';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { createUser } from '../../services/gateway/src/auth/users.js';
import {
  gatewayEnvSchema,
  startGateway,
  type AppRouter,
  type Gateway,
} from '../../services/gateway/src/index.js';
import { createTestDatabase, testRedis } from './backends.js';
import { startFakeUpstream, streamReply, type Reply } from './fake-upstream.js';
import {
  dumpDatabase,
  dumpRedis,
  readWorkerEvents,
  scanKeys,
  watchFinishedJobs,
  type ReadEventsOptions,
} from './inspect.js';

const execFileAsync = promisify(execFile);
const CLI = path.resolve(import.meta.dirname, '../../services/gateway/dist/cli/main.js');

export const SERVICE_TOKEN = 'test-service-token-0123456789';
/** The operator's platform keys; the loopback upstream receives them like a provider would. */
export const PLATFORM_KEYS = {
  OPENAI_API_KEY: 'sk-platform-openai-test-0123456789',
  OPENROUTER_API_KEY: 'sk-or-platform-test-0123456789',
  ANTHROPIC_API_KEY: 'sk-ant-platform-test-0123456789',
};
/** The upstream scenario that stands in for api.openai.com (the `openai` provider). */
export const OPENAI_SCENARIO = 'openai';

export interface StackOptions {
  /**
   * Environment for all three services, over the stack's defaults; each service reads the
   * names it knows, like one `.env` shared by a deployment.
   */
  env?: Record<string, string>;
  /** Start the real inference worker (default true). */
  worker?: boolean;
  /** Log level of all three services; every line is kept in `stack.logs`. Default silent. */
  logLevel?: 'silent' | 'info' | 'debug' | 'trace';
  /** DNS resolver for the SSRF guards of the gateway and the worker. */
  resolve?: Resolver;
}

/**
 * The whole stack on loopback, real: billing and the gateway each on a fresh database, the
 * inference worker, all under this test file's Redis prefix, with every provider pointed at a
 * loopback fake upstream (`stack.upstream`) that custom endpoints may also reach. `close()`
 * stops everything and removes every key under the prefix.
 */
export async function startStack(options: StackOptions = {}) {
  const [billingDb, gatewayDb, upstream] = await Promise.all([
    createTestDatabase('billing'),
    createTestDatabase('gateway'),
    startFakeUpstream(),
  ]);
  const redisInfo = testRedis();
  upstream.scenario(OPENAI_SCENARIO, streamReply({ content: ['Hello', ' from', ' upstream'] }));

  const logs: string[] = [];
  const logger = (service: string) =>
    createLogger({
      service,
      level: options.logLevel ?? 'silent',
      pretty: false,
      destination: { write: (line: string) => void logs.push(line) },
    });

  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: options.logLevel ?? 'silent',
    SERVICE_TOKEN,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HOST: '127.0.0.1',
    PORT: '0',
    BILLING_HOST: '127.0.0.1',
    BILLING_PORT: '0',
    INFERENCE_HOST: '127.0.0.1',
    INFERENCE_PORT: '0',
    GATEWAY_DATABASE_URL: gatewayDb.url,
    BILLING_DATABASE_URL: billingDb.url,
    REDIS_URL: redisInfo.url,
    QUEUE_PREFIX: redisInfo.prefix,
    CUSTOM_ENDPOINT_ALLOW: '127.0.0.1',
    ...PLATFORM_KEYS,
    OPENAI_BASE_URL: `${upstream.url}/${OPENAI_SCENARIO}/v1`,
    OPENROUTER_BASE_URL: `${upstream.url}/openrouter/api/v1`,
    ANTHROPIC_BASE_URL: `${upstream.url}/anthropic`,
    // Bounds how long closing waits for a job a test left running.
    SHUTDOWN_GRACE_MS: '5000',
    ...options.env,
  };

  const billing = await startBilling(billingEnvSchema.parse(env), { logger: logger('billing') });
  env.BILLING_URL = billing.url;

  const gateways: Gateway[] = [];
  const workers: InferenceHandle[] = [];
  const redis = new Redis(redisInfo.url);
  const queue = new Queue(INFERENCE_QUEUE, {
    connection: redis,
    prefix: redisKeys(redisInfo.prefix).bullPrefix,
  });

  /** A gateway on the stack's databases, Redis and billing; a test may add replicas. */
  async function addGateway(overrides: Record<string, string> = {}) {
    const gateway = await startGateway(gatewayEnvSchema.parse({ ...env, ...overrides }), {
      logger: logger('gateway'),
      resolve: options.resolve,
    });
    gateways.push(gateway);
    return gateway;
  }

  /** An inference worker on the stack's queue. */
  async function addWorker(overrides: Record<string, string> = {}) {
    // Loaded on first use: the worker's SDKs take about a second to import, which files that
    // run without a worker need not pay.
    const { inferenceEnvSchema, startInference } = await import('@creditgate/inference');
    const worker = await startInference(inferenceEnvSchema.parse({ ...env, ...overrides }), {
      logger: logger('inference'),
      resolve: options.resolve,
    });
    workers.push(worker);
    return worker;
  }

  const gateway = await addGateway();
  if (options.worker !== false) await addWorker();
  const jobs = await watchFinishedJobs(redisInfo.url, redisInfo.prefix);

  return {
    /** The environment the services were started with (BILLING_URL included), as strings. */
    env,
    billing,
    gateway,
    workers,
    upstream,
    redis,
    queue,
    prefix: redisInfo.prefix,
    databases: { billing: billingDb.url, gateway: gatewayDb.url },
    /** Every log line the three services wrote, when `logLevel` asked for any. */
    logs,
    addGateway,
    addWorker,
    /** Resolves once the worker is done with a request's job (it settles after answering). */
    jobFinished: jobs.finished,

    /** A custom endpoint served by the fake upstream; returns its base URL. */
    endpoint(scenario: string, ...replies: Reply[]) {
      return `${upstream.scenario(scenario, ...replies)}/v1`;
    },

    /** A user with a fresh API key, created the way the CLI does it. */
    async createUser(name = 'test user') {
      return createUser(gateway.deps.prisma, name);
    },

    /** Credits for a user, minted through billing's API as an operator would. */
    async mint(userId: string, amount: string, currency?: string) {
      return gateway.deps.billing.mint.mutate({ userId, amount, currency });
    },

    /** The admin CLI as an operator runs it: a child process with the stack's environment. */
    async cli(args: string[], overrides: Record<string, string> = {}) {
      try {
        const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], {
          env: { PATH: process.env.PATH ?? '', ...env, ...overrides },
        });
        return { code: 0, stdout, stderr, json: JSON.parse(stdout) as Record<string, unknown> };
      } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr, json: undefined };
      }
    },

    /** The official openai client on the gateway; `fetch` lets a test see every response. */
    openai(apiKey: string, options: { baseUrl?: string; fetch?: typeof fetch } = {}) {
      return new OpenAI({
        apiKey,
        baseURL: `${options.baseUrl ?? gateway.url}/v1`,
        maxRetries: 0,
        fetch: options.fetch,
      });
    },

    trpc(apiKey: string | undefined, options: { fetch?: typeof fetch } = {}) {
      return createTrpcClient(gateway.url, apiKey, options.fetch);
    },

    /** The events the worker wrote for a request, up to its terminal one (see readWorkerEvents). */
    workerEvents(requestId: string, options: ReadEventsOptions = {}) {
      return readWorkerEvents(redisInfo.url, redisInfo.prefix, requestId, options);
    },

    /** Every Redis key of this stack with its value, as text for leak checks. */
    async dumpRedis(): Promise<string> {
      return dumpRedis(redis, redisInfo.prefix);
    },

    /** Every row of every table of one service's database, as JSON text. */
    async dumpDatabase(service: 'billing' | 'gateway'): Promise<string> {
      return dumpDatabase(service === 'billing' ? billingDb.url : gatewayDb.url);
    },

    async close() {
      // Gateways first: their open streams are cancelled, so the workers have nothing to wait for.
      for (const each of gateways) await each.close(0);
      await upstream.stop();
      for (const each of workers) await each.close();
      await billing.close();
      await jobs.close();
      await queue.close();
      const keys = await scanKeys(redis, redisInfo.prefix);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await Promise.all([billingDb.drop(), gatewayDb.drop()]);
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** A typed tRPC client as a client developer would write it: plain JSON, SSE subscriptions. */
export function createTrpcClient(
  baseUrl: string,
  apiKey: string | undefined,
  fetchImpl: typeof fetch = fetch,
) {
  const authorization: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: `${baseUrl}/trpc`,
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input, init) =>
              fetchImpl(input, { ...init, headers: { ...init?.headers, ...authorization } }),
          }),
        }),
        false: httpLink({ url: `${baseUrl}/trpc`, headers: authorization, fetch: fetchImpl }),
      }),
    ],
  });
}

/** The OpenAI error envelope of a raw response. */
export async function envelope(response: Response) {
  return (await response.json()) as { error: { message: string; type: string; code: string } };
}
