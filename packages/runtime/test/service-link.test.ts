import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient } from '@trpc/client';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { serviceLinks } from '../src/service-link.js';

const SERVICE_TOKEN = 'test-service-token';

interface Exchange {
  path: string;
  batched: boolean;
  serviceToken: string | undefined;
  requestId: string | undefined;
}

/** A real tRPC server on loopback that records each HTTP exchange and can hold calls open. */
const exchanges: Exchange[] = [];
let releaseHeld: () => void = () => {};
let held = Promise.resolve();

const t = initTRPC.create();
const router = t.router({
  echo: t.procedure
    .input(z.object({ requestId: z.string(), hold: z.boolean().optional() }))
    .mutation(async ({ input }) => {
      if (input.hold) await held;
      if (input.requestId === 'req_refused') {
        throw new TRPCError({ code: 'NOT_FOUND', message: 'no such request' });
      }
      return { requestId: input.requestId };
    }),
});

const handler = createHTTPHandler({ router, basePath: '/trpc/' });
const server = createServer((req: IncomingMessage, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  exchanges.push({
    path: url.pathname,
    batched: url.searchParams.get('batch') === '1',
    serviceToken: req.headers['x-service-token'] as string | undefined,
    requestId: req.headers['x-request-id'] as string | undefined,
  });
  handler(req, res);
});
let url = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  exchanges.length = 0;
  held = new Promise((resolve) => (releaseHeld = resolve));
});

function clientWith(batching?: 'when-busy' | 'always') {
  return createTRPCClient<typeof router>({
    links: serviceLinks({
      url,
      serviceToken: SERVICE_TOKEN,
      timeoutMs: 5_000,
      batching,
      requestIdOf: (op) => (op.input as { requestId?: unknown }).requestId,
    }),
  });
}

/** Waits until the server has seen `count` exchanges. */
async function exchangesReach(count: number) {
  await expect.poll(() => exchanges.length).toBeGreaterThanOrEqual(count);
}

describe('serviceLinks', () => {
  it('sends a lone call alone and calls that overlap one in flight in one exchange', async () => {
    const client = clientWith();

    const first = client.echo.mutate({ requestId: 'req_first', hold: true });
    await exchangesReach(1);
    const [second, refused] = await Promise.allSettled([
      client.echo.mutate({ requestId: 'req_second' }),
      client.echo.mutate({ requestId: 'req_refused' }),
    ]);
    releaseHeld();

    expect(await first).toEqual({ requestId: 'req_first' });
    expect(second).toEqual({ status: 'fulfilled', value: { requestId: 'req_second' } });
    expect(refused).toMatchObject({ status: 'rejected', reason: { message: 'no such request' } });
    expect(exchanges).toEqual([
      { path: '/trpc/echo', batched: false, serviceToken: SERVICE_TOKEN, requestId: 'req_first' },
      // Two requests share the exchange, so neither names it.
      { path: '/trpc/echo,echo', batched: true, serviceToken: SERVICE_TOKEN, requestId: undefined },
    ]);

    // Idle again: the next call leaves alone.
    await client.echo.mutate({ requestId: 'req_later' });
    expect(exchanges[2]).toMatchObject({ batched: false, requestId: 'req_later' });
  });

  it('with batching "always", batches even a lone call, naming its request', async () => {
    const client = clientWith('always');
    releaseHeld();

    await client.echo.mutate({ requestId: 'req_alone' });
    const answers = await Promise.all([
      client.echo.mutate({ requestId: 'req_a' }),
      client.echo.mutate({ requestId: 'req_b' }),
      client.echo.mutate({ requestId: 'req_c' }),
    ]);

    expect(answers.map((answer) => answer.requestId)).toEqual(['req_a', 'req_b', 'req_c']);
    expect(exchanges).toEqual([
      { path: '/trpc/echo', batched: true, serviceToken: SERVICE_TOKEN, requestId: 'req_alone' },
      {
        path: '/trpc/echo,echo,echo',
        batched: true,
        serviceToken: SERVICE_TOKEN,
        requestId: undefined,
      },
    ]);
  });
});
