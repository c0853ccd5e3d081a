import { balanceOf, history, mint, openHolds, send, tally, verifyLedger } from '../ledger/index.js';
import { historyInput, mintInput, sendInput, tallyInput, userInput } from '../schemas.js';
import { serviceProcedure } from '../trpc.js';

/** Balances, history and the moves that change balances outside the request path. */
export const ledgerProcedures = {
  balance: serviceProcedure
    .input(userInput)
    .query(({ ctx, input }) => balanceOf(ctx.ledger, input.userId)),

  holds: serviceProcedure
    .input(userInput)
    .query(async ({ ctx, input }) => ({ holds: await openHolds(ctx.ledger, input.userId) })),

  history: serviceProcedure
    .input(historyInput)
    .query(({ ctx, input }) => history(ctx.ledger, input)),

  mint: serviceProcedure.input(mintInput).mutation(async ({ ctx, input }) => {
    const { actorUserId, ...rest } = input;
    const change = await mint(ctx.ledger, { ...rest, actorId: actorUserId });
    ctx.log.info(
      { userId: input.userId, currency: input.currency, amount: change.amount, actorUserId },
      'credits minted',
    );
    return change;
  }),

  send: serviceProcedure.input(sendInput).mutation(async ({ ctx, input }) => {
    const { actorUserId, ...rest } = input;
    const result = await send(ctx.ledger, { ...rest, actorId: actorUserId });
    ctx.log.info(
      {
        from: input.fromUserId,
        to: input.toUserId,
        currency: input.currency,
        amount: result.amount,
      },
      'credits sent',
    );
    return result;
  }),

  tally: serviceProcedure.input(tallyInput).mutation(async ({ ctx, input }) => {
    const { actorUserId, ...rest } = input;
    const change = await tally(ctx.ledger, { ...rest, actorId: actorUserId });
    ctx.log.info(
      {
        userId: input.userId,
        currency: input.currency,
        amount: change.amount,
        reason: input.reason,
      },
      'tally recorded',
    );
    return change;
  }),

  verify: serviceProcedure.query(async ({ ctx }) => {
    const report = await verifyLedger(ctx.ledger);
    if (!report.ok) {
      ctx.log.error(
        { mismatched: report.mismatches.length, first: report.mismatches.slice(0, 5) },
        'ledger verification failed',
      );
    }
    return report;
  }),
};
