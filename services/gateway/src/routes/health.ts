import { redisKeys } from '@creditgate/contracts';
import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../deps.js';

type Check = () => Promise<void>;

const CHECK_TIMEOUT_MS = 2_000;

async function withTimeout(check: Check): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch {
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/healthz`: the process answers. `/readyz`: it can serve a completion end to end, so every
 * dependency answers and at least one worker has a live heartbeat; the body names what failed.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const heartbeatPattern = redisKeys(deps.env.QUEUE_PREFIX).workerHeartbeatPattern;
  const billingHealth = `${deps.env.BILLING_URL.replace(/\/+$/, '')}/healthz`;

  const checks: Record<string, Check> = {
    postgres: async () => {
      await deps.prisma.$queryRaw`SELECT 1`;
    },
    redis: async () => {
      await deps.redis.ping();
    },
    billing: async () => {
      const response = await fetch(billingHealth, {
        signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`billing answered ${response.status}`);
    },
    worker: async () => {
      // Heartbeat keys expire on their own; SCAN until one is seen (a handful of keys at most).
      let cursor = '0';
      do {
        const [next, keys] = await deps.redis.scan(
          cursor,
          'MATCH',
          heartbeatPattern,
          'COUNT',
          1000,
        );
        if (keys.length > 0) return;
        cursor = next;
      } while (cursor !== '0');
      throw new Error('no worker heartbeat');
    },
  };

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const names = Object.keys(checks);
    const results = await Promise.all(names.map((name) => withTimeout(checks[name]!)));
    const report = Object.fromEntries(names.map((name, i) => [name, results[i]]));
    const ready = results.every((result) => result === 'ok');
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'unavailable', checks: report });
  });
}
