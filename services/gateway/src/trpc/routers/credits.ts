import { currencyCode, positiveAmount, requestId } from '@creditgate/contracts';
import { z } from 'zod';
import { traced } from '../../billing/client.js';
import { send } from '../../billing/ledger.js';
import {
  historyPageOutput,
  openHoldsOutput,
  requestDetailsOutput,
  usageReportOutput,
} from '../../billing/outputs.js';
import {
  historyFiltersInput,
  historyPage,
  openHolds,
  usageRangeInput,
  usageReport,
} from '../../billing/reports.js';
import { router, userProcedure } from '../init.js';

/** The caller's own credits, read from billing. */
export const creditsRouter = router({
  /** `{ totals, held, available }`, each `{ [currency]: "decimal" }`. */
  balance: userProcedure.query(({ ctx }) =>
    ctx.deps.billing.balance.query({ userId: ctx.caller.userId }, traced(ctx.requestId)),
  ),

  /** Holds still open for in-flight requests. */
  holds: userProcedure
    .output(openHoldsOutput)
    .query(({ ctx }) => openHolds(ctx.deps.billing, ctx.caller.userId, traced(ctx.requestId))),

  /** Grants, sends, burns and corrections, newest first, a page at a time; filterable. */
  history: userProcedure
    .input(historyFiltersInput.optional())
    .output(historyPageOutput)
    .query(({ ctx, input }) =>
      historyPage(ctx.deps.billing, ctx.caller.userId, input, traced(ctx.requestId)),
    ),

  /** Tokens and cost by model and by day over a date range (default: the last 30 days). */
  usage: userProcedure
    .input(usageRangeInput.optional())
    .output(usageReportOutput)
    .query(({ ctx, input }) =>
      usageReport(ctx.deps.billing, ctx.caller.userId, input, traced(ctx.requestId)),
    ),

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
