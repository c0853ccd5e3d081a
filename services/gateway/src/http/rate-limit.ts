import { AppError } from '@creditgate/contracts';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { hashApiKey } from '../auth/api-keys.js';
import { bearerToken } from '../auth/authenticate.js';

/** A fixed one-minute window per key: INCR, and start the window's expiry on its first hit. */
const WINDOW_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}
`;

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * The plugin's store contract, backed by the gateway's Redis so limits hold across replicas.
 * A Redis failure becomes a 503: requests are refused, never waved through unmetered.
 */
function redisWindowStore(redis: Redis, keyPrefix: string) {
  // A defined command runs as EVALSHA: the script is sent once, not with every request.
  if (!('rateLimitWindow' in redis)) {
    redis.defineCommand('rateLimitWindow', { numberOfKeys: 1, lua: WINDOW_SCRIPT });
  }
  const windowed = redis as Redis & {
    rateLimitWindow(key: string, windowMs: string): Promise<unknown>;
  };

  return class RedisWindowStore {
    incr(key: string, callback: Callback, timeWindow: number): void {
      windowed
        .rateLimitWindow(`${keyPrefix}${key}`, String(timeWindow))
        .then((reply) => {
          const [current, ttl] = reply as [number, number];
          callback(null, { current, ttl });
        })
        .catch((cause: unknown) =>
          callback(
            new AppError('service_unavailable', 'rate limiting is unavailable, try again shortly', {
              cause,
            }),
          ),
        );
    }

    child(): this {
      return this;
    }
  };
}

/** Requests are counted per API key (its hash), or per client address when no key is sent. */
function rateLimitKey(request: FastifyRequest): string {
  const token = bearerToken(request.headers.authorization);
  return token ? `key:${hashApiKey(token).slice(0, 32)}` : `ip:${request.ip}`;
}

/** Registers the limit on the current (encapsulated) scope: the public API routes. */
export async function registerRateLimit(
  app: FastifyInstance,
  options: { redis: Redis; keyPrefix: string; perMinute: number },
): Promise<void> {
  await app.register(rateLimit, {
    max: options.perMinute,
    timeWindow: 60_000,
    hook: 'onRequest',
    keyGenerator: rateLimitKey,
    store: redisWindowStore(options.redis, options.keyPrefix),
    // The default, spelled out: a store error must refuse the request, not skip the limit.
    skipOnError: false,
    errorResponseBuilder: (_request, context) =>
      new AppError(
        'rate_limit_exceeded',
        `rate limit of ${context.max} requests per minute exceeded, retry in ${context.after}`,
      ),
  });
}
