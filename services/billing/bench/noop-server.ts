/**
 * The cost floor of the benchmark: a Fastify + tRPC server with `authorize` and `settle`
 * procedures that validate the same inputs and answer at once, without touching a database.
 * Whatever pairs/s it reaches is the most any billing implementation behind the same HTTP and
 * tRPC stack could reach on this machine. Prints its URL as a JSON line, like billing does.
 */
import {
  authorizeInput,
  settleInput,
  type AuthorizeResult,
  type SettleResult,
} from '@creditgate/contracts';
import { initTRPC } from '@trpc/server';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';

const t = initTRPC.create();

const router = t.router({
  authorize: t.procedure.input(authorizeInput).mutation(({ input }): AuthorizeResult => ({
    requestId: input.requestId,
    decision: 'approved',
    reason: 'balance',
    currency: 'credit',
    hold: '0.000375',
    maxOutputTokens: input.maxOutputTokens,
    outputClamped: false,
  })),
  settle: t.procedure.input(settleInput).mutation(({ input }): SettleResult => ({
    requestId: input.requestId,
    status: input.status,
    cost: '0.0001',
    currency: 'credit',
  })),
});
export type NoopRouter = typeof router;

const app = Fastify({ logger: false, routerOptions: { maxParamLength: 5000 } });
await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router } });
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
process.stdout.write(
  `${JSON.stringify({ msg: 'noop listening', url: `http://127.0.0.1:${port}` })}\n`,
);
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
