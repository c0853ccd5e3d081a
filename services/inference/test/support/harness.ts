import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { BillingRouter } from '@creditgate/billing';
import { startBilling, loadBillingEnv } from '@creditgate/billing';
import {
  INFERENCE_QUEUE,
  JOB_RETENTION,
  newId,
  redisKeys,
  type AuthorizeResult,
  type InferenceJob,
  type JobRoute,
  type RouteClass,
  type StreamEvent,
} from '@creditgate/contracts';
import { createKeyring, createLogger, sealSecret, type Resolver } from '@creditgate/runtime';
import { createTRPCClient, httpLink } from '@trpc/client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { readWorkerEvents, watchFinishedJobs } from '../../../../test/support/inspect.js';
import { inferenceEnvSchema, startInference, type InferenceHandle } from '../../src/index.js';
import { createTestDatabase, testRedis } from '../../../../test/support/backends.js';
import { FixtureServer } from './fixture-server.js';
import { RecordingProxy } from './recording-proxy.js';

export const SERVICE_TOKEN = 'inference-test-service-token';
export const PLATFORM_KEYS = {
  OPENAI_API_KEY: 'sk-platform-openai-0123456789',
  OPENROUTER_API_KEY: 'sk-or-platform-0123456789',
  ANTHROPIC_API_KEY: 'sk-ant-platform-0123456789',
};

export type Messages = InferenceJob['params']['messages'];
const DEFAULT_MESSAGES: Messages = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Say something short.' },
];

export interface SubmitInput {
  requestId?: string;
  route: JobRoute;
  modelId: string;
  userId?: string;
  messages?: Messages;
  maxTokens?: number;
  /** Replaces parts of billing's real decision (to build a job that does not match its route). */
  decision?: Partial<AuthorizeResult>;
  /** Skip billing's authorize entirely, with this decision. */
  forgedDecision?: AuthorizeResult;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Start the in-process worker (default true). */
  worker?: boolean;
  resolve?: Resolver;
}

/**
 * Everything an inference test needs, real: billing on its own database (behind a recording
 * proxy), a loopback model server, Redis with this file's prefix, a BullMQ queue, the worker.
 */
export async function startHarness(options: HarnessOptions = {}) {
  const db = await createTestDatabase('billing');
  const { url: redisUrl, prefix } = testRedis();
  const billing = await startBilling(
    loadBillingEnv({
      BILLING_PORT: '0',
      BILLING_HOST: '127.0.0.1',
      BILLING_DATABASE_URL: db.url,
      SERVICE_TOKEN,
      LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
    }),
  );
  const billingUrl = `http://127.0.0.1:${billing.port}`;
  const proxy = await new RecordingProxy(billingUrl).start();
  const billingClient = createTRPCClient<BillingRouter>({
    links: [httpLink({ url: `${billingUrl}/trpc`, headers: { 'x-service-token': SERVICE_TOKEN } })],
  });
  const fixtures = await new FixtureServer().start();

  const encryptionKey = randomBytes(32).toString('base64');
  const keyring = createKeyring(encryptionKey);
  const envSource: Record<string, string> = {
    INFERENCE_PORT: '0',
    INFERENCE_HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    BILLING_URL: proxy.url,
    SERVICE_TOKEN,
    ENCRYPTION_KEY: encryptionKey,
    WORKER_CONCURRENCY: '10',
    CUSTOM_ENDPOINT_ALLOW: '127.0.0.1',
    ...PLATFORM_KEYS,
    OPENAI_BASE_URL: `${fixtures.url}/openai/v1`,
    OPENROUTER_BASE_URL: `${fixtures.url}/openrouter/api/v1`,
    ANTHROPIC_BASE_URL: `${fixtures.url}/anthropic`,
    UPSTREAM_CONNECT_TIMEOUT_MS: '2000',
    UPSTREAM_FIRST_TOKEN_TIMEOUT_MS: '5000',
    UPSTREAM_IDLE_TIMEOUT_MS: '5000',
    SHUTDOWN_GRACE_MS: '5000',
    LOG_LEVEL: 'info',
    NODE_ENV: 'test',
    ...options.env,
  };

  // Worker logs are kept in memory: tests read them (no secret may appear), nothing is printed.
  const logLines: string[] = [];
  const logSink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({
    service: 'inference',
    level: 'debug',
    pretty: false,
    destination: logSink,
  });

  const workers: InferenceHandle[] = [];
  const startWorker = async (env: Record<string, string> = {}) => {
    const handle = await startInference(inferenceEnvSchema.parse({ ...envSource, ...env }), {
      logger,
      resolve: options.resolve,
    });
    workers.push(handle);
    return handle;
  };
  if (options.worker !== false) await startWorker();

  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(INFERENCE_QUEUE, {
    connection: redis,
    prefix: redisKeys(prefix).bullPrefix,
  });
  const keys = redisKeys(prefix);

  const jobs = await watchFinishedJobs(redisUrl, prefix);
  const jobFinished = jobs.finished;

  const routeClassOf = (route: JobRoute): RouteClass =>
    route.kind === 'custom_endpoint'
      ? 'custom_endpoint'
      : route.sealedByoKey
        ? 'platform_byo'
        : 'platform';

  return {
    prefix,
    redisUrl,
    redis,
    queue,
    keys,
    keyring,
    fixtures,
    proxy,
    billing: billingClient,
    logLines,
    envSource,
    workers,
    startWorker,

    seal: (secret: string) => sealSecret(keyring, secret),

    customRoute(baseUrl: string, apiKey?: string, providerModelId = 'served-model'): JobRoute {
      return {
        kind: 'custom_endpoint',
        baseUrl,
        providerModelId,
        sealedApiKey: apiKey ? sealSecret(keyring, apiKey) : null,
      };
    },

    platformRoute(
      provider: 'openai' | 'openrouter' | 'anthropic',
      providerModelId: string,
      byoKey?: string,
    ): JobRoute {
      return {
        kind: 'platform',
        provider,
        providerModelId,
        sealedByoKey: byoKey ? sealSecret(keyring, byoKey) : null,
      };
    },

    /** Authorizes with billing like the gateway does, then enqueues the job as it does. */
    async submit(input: SubmitInput): Promise<InferenceJob> {
      const requestId = input.requestId ?? newId('request');
      const userId = input.userId ?? 'usr_inference_test';
      const decision =
        input.forgedDecision !== undefined
          ? { ...input.forgedDecision, requestId }
          : {
              ...(await billingClient.authorize.mutate({
                requestId,
                userId,
                modelId: input.modelId,
                routeClass: routeClassOf(input.route),
                promptTokens: 30,
                maxOutputTokens: input.maxTokens ?? 200,
              })),
              ...input.decision,
            };
      const job: InferenceJob = {
        requestId,
        userId,
        modelId: input.modelId,
        route: input.route,
        decision,
        params: {
          messages: input.messages ?? DEFAULT_MESSAGES,
          max_tokens: decision.maxOutputTokens ?? input.maxTokens ?? null,
        },
        stream: true,
        includeUsage: true,
        createdAt: Date.now(),
      };
      await queue.add('chat', job, { jobId: requestId, ...JOB_RETENTION });
      return job;
    },

    /**
     * Reads a request's events in order, blocking on Redis until `until` says stop. Without
     * `until`: until the terminal event, and then until the worker is done with the job (it
     * settles after writing the terminal event). Fails after `timeoutMs` of waiting.
     */
    async events(
      requestId: string,
      until?: (events: StreamEvent[]) => boolean,
      timeoutMs = 15_000,
    ): Promise<StreamEvent[]> {
      if (until) return readWorkerEvents(redisUrl, prefix, requestId, { until, timeoutMs });
      const [events] = await Promise.all([
        readWorkerEvents(redisUrl, prefix, requestId, {
          until: (read) => read.some((e) => e.type !== 'chunk'),
          timeoutMs,
        }),
        jobFinished(requestId, timeoutMs),
      ]);
      return events;
    },

    jobFinished,

    async mint(userId: string, amount: string, currency?: string) {
      await billingClient.mint.mutate({ userId, amount, currency });
    },

    async close() {
      for (const worker of workers) await worker.close();
      await jobs.close();
      await queue.close();
      redis.disconnect();
      await fixtures.stop();
      await proxy.stop();
      await billing.close();
      await db.drop();
    },
  };
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;

/** The chunk payloads of an event list, parsed. */
export function chunksOf(events: StreamEvent[]) {
  return events
    .filter((e): e is Extract<StreamEvent, { type: 'chunk' }> => e.type === 'chunk')
    .map(
      (e) =>
        JSON.parse(e.data) as {
          id: string;
          object: string;
          created: number;
          model: string;
          usage?: unknown;
          choices: Array<{
            index: number;
            delta: Record<string, unknown>;
            finish_reason: string | null;
          }>;
        },
    );
}

/** The text the client would assemble from the chunks. */
export function contentOf(events: StreamEvent[]): string {
  return chunksOf(events)
    .flatMap((chunk) => chunk.choices)
    .map((choice) => (typeof choice.delta.content === 'string' ? choice.delta.content : ''))
    .join('');
}

export function terminalOf(events: StreamEvent[]) {
  const terminal = events.filter((e) => e.type !== 'chunk');
  if (terminal.length !== 1) throw new Error(`expected one terminal event, got ${terminal.length}`);
  return terminal[0]!;
}
