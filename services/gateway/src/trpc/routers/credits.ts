import { currencyCode, positiveAmount, requestId } from '@creditgate/contracts';
import { z } from 'zod';
import { traced } from '../../billing/client.js';
import { send } from '../../billing/ledger.js';
import { historyPageOutput, requestDetailsOutput } from '../../billing/outputs.js';
import { router, userProcedure } from '../init.js';

const DAY_MS = 24 * 3600 * 1000;
const date = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

const historyInput = z
  .object({
    currency: currencyCode.optional(),
    limit: z.number().int().min(1).max(200).optional(),
    /** `nextCursor` of the previous page. */
    cursor: z.string().min(1).max(32).optional(),
  })
  .optional();

/** Defaults to the last 30 days. */
const usageInput = z.object({ from: date.optional(), to: date.optional() }).optional();

/** The caller's own credits, read from billing. */
export const creditsRouter = router({
  /** `{ totals, held, available }`, each `{ [currency]: "decimal" }`. */
  balance: userProcedure.query(({ ctx }) =>
    ctx.deps.billing.balance.query({ userId: ctx.caller.userId }, traced(ctx.requestId)),
  ),

  /** Holds still open for in-flight requests. */
  holds: userProcedure.query(({ ctx }) =>
    ctx.deps.billing.holds.query({ userId: ctx.caller.userId }, traced(ctx.requestId)),
  ),

  /** Mints, sends, burns and corrections, newest first, a page at a time. */
  history: userProcedure
    .input(historyInput)
    .output(historyPageOutput)
    .query(({ ctx, input }) =>
      ctx.deps.billing.history.query(
        { userId: ctx.caller.userId, ...input },
        traced(ctx.requestId),
      ),
    ),

  /** Tokens and cost by model and by day over a date range. */
  usage: userProcedure.input(usageInput).query(({ ctx, input }) => {
    const to = input?.to ?? new Date().toISOString();
    const from = input?.from ?? new Date(Date.parse(to) - 30 * DAY_MS).toISOString();
    return ctx.deps.billing.usage.query(
      { userId: ctx.caller.userId, from, to },
      traced(ctx.requestId),
    );
  }),

  /** One request's tokens per channel, cost and status; another user's id answers not_found. */
  request: userProcedure
    .input(z.object({ id: requestId }))
    .output(requestDetailsOutput)
    .query(({ ctx, input }) =>
      ctx.deps.billing.request.query(
        { requestId: input.id, userId: ctx.caller.userId },
        traced(ctx.requestId),
      ),
    ),

  /** Sends credits to another user; billing requires the `send` capability. */
  send: userProcedure
    .input(
      z.object({
        toUserId: z.string().min(1).max(64),
        amount: positiveAmount,
        currency: currencyCode.optional(),
      }),
    )
    .mutation(({ ctx, input }) =>
      send(
        ctx.deps,
        { fromUserId: ctx.caller.userId, ...input },
        { userId: ctx.caller.userId, requestId: ctx.requestId },
      ),
    ),
});
