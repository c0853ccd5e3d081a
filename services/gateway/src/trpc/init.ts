import { AppError } from '@creditgate/contracts';
import { initTRPC } from '@trpc/server';
import { traced } from '../billing/client.js';
import { trpcErrorShape } from '../errors.js';
import type { TrpcContext } from './context.js';

/**
 * One tRPC instance for the gateway. No transformer: inputs and outputs are plain JSON, so any
 * HTTP client can call /trpc. Errors go through the same mapping as /v1 (see errors.ts), and
 * stack traces are never sent.
 */
const t = initTRPC.context<TrpcContext>().create({
  isDev: false,
  errorFormatter: ({ error, path }) => trpcErrorShape(error, path),
  sse: {
    // Keeps proxies from closing a quiet stream while the model is thinking.
    ping: { enabled: true, intervalMs: 15_000 },
  },
});

export const router = t.router;

/** The ladder: public -> user (a valid API key) -> admin (the `admin` capability in billing). */
export const publicProcedure = t.procedure;

export const userProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const caller = await ctx.authentication;
  ctx.outcome.userId = caller.userId;
  return next({ ctx: { caller } });
});

export const adminProcedure = userProcedure.use(async ({ ctx, next }) => {
  const { active } = await ctx.deps.billing.capabilities.check.query(
    { userId: ctx.caller.userId, capability: 'admin' },
    traced(ctx.requestId),
  );
  if (!active) throw new AppError('forbidden', 'this procedure needs the admin capability');
  return next();
});
