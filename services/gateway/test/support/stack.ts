import { billingEnvSchema, startBilling } from '@creditgate/billing';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { createTestDatabase, testRedis } from '../../../../test/support/backends.js';
import {
  gatewayEnvSchema,
  startGateway,
  type AppRouter,
  type GatewayOptions,
} from '../../src/index.js';
import { createUser } from '../../src/auth/users.js';

export const SERVICE_TOKEN = 'test-service-token-0123456789';

/**
 * Real billing and a real gateway on loopback, each on its own fresh database, with this file's
 * own Redis prefix. `close()` stops both and removes every key under the prefix.
 */
export async function startStack(
  gatewayOverrides: Record<string, string> = {},
  options: GatewayOptions = {},
) {
  const billingDb = await createTestDatabase('billing');
  const gatewayDb = await createTestDatabase('gateway');
  const redisInfo = testRedis();

  const billing = await startBilling(
    billingEnvSchema.parse({
      BILLING_PORT: '0',
      BILLING_HOST: '127.0.0.1',
      BILLING_DATABASE_URL: billingDb.url,
      SERVICE_TOKEN,
      LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
    }),
  );

  const env = gatewayEnvSchema.parse({
    PORT: '0',
    HOST: '127.0.0.1',
    GATEWAY_DATABASE_URL: gatewayDb.url,
    REDIS_URL: redisInfo.url,
    QUEUE_PREFIX: redisInfo.prefix,
    BILLING_URL: billing.url,
    SERVICE_TOKEN,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    ...gatewayOverrides,
  });
  const gateway = await startGateway(env, options);
  const redis = new Redis(redisInfo.url);

  return {
    env,
    billing,
    gateway,
    redis,
    prefix: redisInfo.prefix,
    databases: { billing: billingDb.url, gateway: gatewayDb.url },

    /** A user with a fresh API key, created the way the CLI does it. */
    async createUser(name = 'test user') {
      return createUser(gateway.deps.prisma, name);
    },

    /** Credits for a user, minted through billing's API as an operator would. */
    async mint(userId: string, amount: string, currency?: string) {
      return gateway.deps.billing.mint.mutate({ userId, amount, currency });
    },

    openai(apiKey: string) {
      return new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    },

    trpc(apiKey: string) {
      return createTrpcClient(gateway.url, apiKey);
    },

    /** Every Redis key of this stack with its value, for leak checks. */
    async dumpRedis(): Promise<string> {
      const keys = await redis.keys(`${redisInfo.prefix}*`);
      const parts: string[] = [];
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === 'string') parts.push(key, String(await redis.get(key)));
        else if (type === 'hash') parts.push(key, JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(key, JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'zset') parts.push(key, JSON.stringify(await redis.zrange(key, 0, -1)));
        else if (type === 'stream')
          parts.push(key, JSON.stringify(await redis.xrange(key, '-', '+')));
        else parts.push(key);
      }
      return parts.join('\n');
    },

    async close() {
      await gateway.close(0);
      await billing.close();
      const keys = await redis.keys(`${redisInfo.prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await Promise.all([billingDb.drop(), gatewayDb.drop()]);
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** A typed tRPC client as a client developer would write it: plain JSON, SSE subscriptions. */
export function createTrpcClient(baseUrl: string, apiKey: string | undefined) {
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
              fetch(input, { ...init, headers: { ...init?.headers, ...authorization } }),
          }),
        }),
        false: httpLink({ url: `${baseUrl}/trpc`, headers: authorization }),
      }),
    ],
  });
}

/** The OpenAI error envelope of a raw response. */
export async function envelope(response: Response) {
  return (await response.json()) as { error: { message: string; type: string; code: string } };
}
