import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAmount } from '@creditgate/contracts';
import OpenAI from 'openai';
import { inject } from 'vitest';
import { BenchStack, type ServiceProcess } from '../../bench/lib/stack.mjs';
import {
  createBillingClient,
  type BillingClient,
} from '../../services/gateway/src/billing/client.js';
import { createTestDatabase, testRedis } from './backends.js';
import { startFakeUpstream } from './fake-upstream.js';
import { scanKeys } from './inspect.js';
import { createTrpcClient, OPENAI_SCENARIO } from './stack.js';
import { Redis } from 'ioredis';

export type { ServiceProcess };

/** A log entry of a service, as pino writes it in production. */
export interface LogEntry {
  msg?: string;
  requestId?: string;
  [field: string]: unknown;
}

/**
 * The stack as production runs it: billing, workers and gateways as separate OS processes from
 * their built `dist/main.js` (the benchmark's launcher, bench/lib/stack.mjs), on this test
 * file's own databases and Redis prefix, with the `openai` provider pointed at a loopback fake
 * upstream in the test process. Every process's JSON log lines are kept (`service.logs`) so a
 * test can wait on what a service says. Start billing, then workers, then gateways (a gateway
 * is ready only once a worker beats).
 */
export async function startProcessStack(options: { env?: Record<string, string> } = {}) {
  const [billingDb, gatewayDb, upstream] = await Promise.all([
    createTestDatabase('billing'),
    createTestDatabase('gateway'),
    startFakeUpstream(),
  ]);
  const redisInfo = testRedis();
  const logDir = mkdtempSync(path.join(tmpdir(), 'creditgate-processes-'));
  const databaseName = (url: string) => new URL(url).pathname.slice(1);

  const stack = new BenchStack({
    adminUrl: inject('pgAdminUrl'),
    redisUrl: redisInfo.url,
    queuePrefix: redisInfo.prefix,
    databases: { gateway: databaseName(gatewayDb.url), billing: databaseName(billingDb.url) },
    logDir,
    logLevel: 'info',
    keepLogs: true,
  });
  Object.assign(stack.env, {
    OPENAI_BASE_URL: `${upstream.url}/${OPENAI_SCENARIO}/v1`,
    ...options.env,
  });

  /** The environment every process shares (BILLING_URL once billing runs). */
  const env = stack.env as Record<string, string>;
  let billing: BillingClient | undefined;

  return {
    stack,
    upstream,
    env,
    logDir,

    async startBilling() {
      const service = await stack.startBilling();
      billing = createBillingClient({ url: env.BILLING_URL!, serviceToken: env.SERVICE_TOKEN! });
      return service;
    },

    startWorker: (name: string, env: Record<string, string> = {}) => stack.startWorker(name, env),
    startGateway: (name: string, env: Record<string, string> = {}) => stack.startGateway(name, env),

    /** Billing's own API with the service token: ledger checks. */
    get billing(): BillingClient {
      if (!billing) throw new Error('billing is not started');
      return billing;
    },

    /** A user with credits, made with the operator CLI as a deployment would. */
    async createUser(name: string, credits?: string) {
      const user = (await stack.cli('user:create', { name })) as { userId: string; apiKey: string };
      if (credits) await stack.cli('grant:mint', { user: user.userId, amount: credits });
      return user;
    },

    openai(apiKey: string, gateway: ServiceProcess) {
      return new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    },

    trpc(apiKey: string | undefined, gateway: ServiceProcess) {
      return createTrpcClient(gateway.url, apiKey);
    },

    async close() {
      await stack.stopAll();
      await upstream.stop();
      const redis = new Redis(redisInfo.url);
      const keys = await scanKeys(redis, redisInfo.prefix);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await Promise.all([billingDb.drop(), gatewayDb.drop()]);
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

export type ProcessStack = Awaited<ReturnType<typeof startProcessStack>>;

/**
 * Sends SIGTERM and resolves with the exit code once the process is gone and everything it
 * wrote has been read (a process's exit can come before the last of its output).
 */
export async function terminate(service: ServiceProcess): Promise<number | null> {
  const { stdout } = service.child;
  const drained = stdout && !stdout.closed ? once(stdout, 'close') : Promise.resolve();
  await service.stop(60_000);
  await drained;
  return service.child.exitCode;
}

/**
 * What the ledger says about a set of users: burns per request id (all of them, so a double
 * burn shows), the sum burned, open holds, and billing's own consistency check. A client hears
 * its answer's end before the worker settles it, so the holds are given a few seconds to close
 * first; the history is read after them, so every settle that closed a hold shows in it.
 */
export async function auditLedger(billing: BillingClient, userIds: string[], settleMs = 10_000) {
  const countHolds = async () => {
    let open = 0;
    for (const userId of userIds) open += (await billing.holds.query({ userId })).holds.length;
    return open;
  };
  const deadline = Date.now() + settleMs;
  let openHolds = await countHolds();
  while (openHolds > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    openHolds = await countHolds();
  }

  const burns = new Map<string, bigint[]>();
  let burned = 0n;
  for (const userId of userIds) {
    let cursor: string | undefined;
    do {
      const page = await billing.history.query({ userId, limit: 200, cursor });
      for (const entry of page.entries) {
        if (entry.kind !== 'burn') continue;
        const cost = -parseAmount(entry.amount);
        burned += cost;
        burns.set(entry.causeId!, [...(burns.get(entry.causeId!) ?? []), cost]);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
  const verify = await billing.verify.query();
  return { burns, burned, openHolds, verify };
}

/** Log entries of a service whose message is `msg`. */
export function logsSaying(service: ServiceProcess, msg: string): LogEntry[] {
  return (service.logs as LogEntry[]).filter((entry) => entry.msg === msg);
}

export type ChatOutcome =
  | { kind: 'complete'; requestId: string; content: string; cost: string; finishReason: string }
  | { kind: 'error'; requestId: string | undefined; error: unknown };

export interface StreamingRequest {
  /** Resolves once the first chunk arrived (never, for a request that fails before one). */
  firstChunk: Promise<void>;
  outcome: Promise<ChatOutcome>;
}

/**
 * One streamed completion through the official client, read to its end. Never rejects: the
 * outcome says whether the stream completed (with its cost) or how it failed.
 */
export function streamChat(
  client: OpenAI,
  body: { model: string; content: string; maxTokens?: number },
): StreamingRequest {
  let onFirst!: () => void;
  const firstChunk = new Promise<void>((resolve) => (onFirst = resolve));
  const outcome = (async (): Promise<ChatOutcome> => {
    let requestId: string | undefined;
    let content = '';
    let cost: string | undefined;
    let finishReason: string | undefined;
    try {
      const stream = await client.chat.completions.create({
        model: body.model,
        messages: [{ role: 'user', content: body.content }],
        max_tokens: body.maxTokens,
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const chunk of stream) {
        requestId ??= chunk.id;
        onFirst();
        content += chunk.choices[0]?.delta?.content ?? '';
        finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
        cost = (chunk.usage as { cost?: string } | undefined)?.cost ?? cost;
      }
      if (!requestId || !cost || !finishReason) {
        return { kind: 'error', requestId, error: new Error('the stream ended without usage') };
      }
      return { kind: 'complete', requestId, content, cost, finishReason };
    } catch (error) {
      return { kind: 'error', requestId, error };
    }
  })();
  return { firstChunk, outcome };
}

/** Resolves once `count` of the promises have resolved. */
export function settledCount(promises: Array<Promise<unknown>>, count: number): Promise<void> {
  let done = 0;
  return new Promise((resolve) => {
    if (count <= 0) resolve();
    for (const promise of promises) {
      void promise.then(() => {
        done += 1;
        if (done === count) resolve();
      });
    }
  });
}

/** Resolves with the first log entry of a service (past or to come) for which `match` holds. */
export function waitForLog(
  service: ServiceProcess,
  match: (entry: LogEntry) => boolean,
): Promise<LogEntry> {
  return service.waitForLog(match) as Promise<LogEntry>;
}
