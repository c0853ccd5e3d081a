import { authorizeInput, settleInput, voidInput } from '@creditgate/contracts';
import { authorize, settle, voidRequest } from '../ledger/index.js';
import { modelLabel, toCredits } from '../metrics.js';
import { serviceProcedure } from '../trpc.js';

/** The request path: authorize before a job is enqueued, settle or void after. */
export const authorizationProcedures = {
  authorize: serviceProcedure.input(authorizeInput).mutation(async ({ ctx, input }) => {
    const { result, replayed } = await authorize(ctx.ledger, input);
    if (!replayed) {
      ctx.metrics.authorizations.inc({ decision: result.decision, reason: result.reason });
    }
    ctx.log.debug(
      { decision: result.decision, reason: result.reason, hold: result.hold, replayed },
      'authorize',
    );
    return { ...result, replayed };
  }),

  settle: serviceProcedure.input(settleInput).mutation(async ({ ctx, input }) => {
    const outcome = await settle(ctx.ledger, input);
    const { meta, cost, overshoot } = outcome;
    if (!outcome.replayed && meta.metered && meta.currency) {
      const model = modelLabel(meta.routeClass, meta.modelId);
      ctx.metrics.creditsBurned.inc({ currency: meta.currency, model }, toCredits(cost));
      if (overshoot > 0n) {
        ctx.metrics.holdOvershoots.inc({ model });
        ctx.metrics.holdOvershootCredits.inc({ currency: meta.currency }, toCredits(overshoot));
        ctx.log.warn(
          { model, cost: outcome.result.cost, overshoot: overshoot.toString() },
          'settled cost exceeded the hold',
        );
      }
    }
    ctx.log.debug({ cost: outcome.result.cost, replayed: outcome.replayed }, 'settle');
    return outcome.result;
  }),

  void: serviceProcedure.input(voidInput).mutation(async ({ ctx, input }) => {
    const outcome = await voidRequest(ctx.ledger, input);
    ctx.log.info({ status: outcome.status, released: outcome.released }, 'request voided');
    return outcome;
  }),
};
