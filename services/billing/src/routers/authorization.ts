import {
  authorizeInput,
  settleInput,
  voidInput,
  type AuthorizeInput,
  type SettleInput,
} from '@creditgate/contracts';
import { z } from 'zod';
import { authorize, settle, voidRequest } from '../ledger/index.js';
import { modelLabel, toCredits } from '../metrics.js';
import {
  itemError,
  MAX_BATCH_SIZE,
  requestLog,
  serviceProcedure,
  type BillingContext,
  type ItemError,
} from '../trpc.js';

async function authorizeOne(ctx: BillingContext, input: AuthorizeInput) {
  const { result, replayed } = await authorize(ctx.ledger, input);
  if (!replayed) {
    ctx.metrics.authorizations.inc({ decision: result.decision, reason: result.reason });
  }
  requestLog(ctx, input.requestId).debug(
    { decision: result.decision, reason: result.reason, hold: result.hold, replayed },
    'authorize',
  );
  return { ...result, replayed };
}

async function settleOne(ctx: BillingContext, input: SettleInput) {
  const outcome = await settle(ctx.ledger, input);
  const log = requestLog(ctx, input.requestId);
  const { meta, cost, overshoot, writtenOff } = outcome;
  if (!outcome.replayed && meta.metered && meta.currency) {
    const model = modelLabel(meta.routeClass, meta.modelId);
    ctx.metrics.creditsBurned.inc({ currency: meta.currency, model }, toCredits(cost));
    if (overshoot > 0n) {
      ctx.metrics.holdOvershoots.inc({ model });
      ctx.metrics.holdOvershootCredits.inc({ currency: meta.currency }, toCredits(overshoot));
      log.warn(
        { model, cost: outcome.result.cost, overshoot: overshoot.toString() },
        'settled cost exceeded the hold',
      );
    }
    if (writtenOff > 0n) {
      ctx.metrics.writtenOffCredits.inc({ currency: meta.currency }, toCredits(writtenOff));
      log.warn(
        { model, burned: outcome.result.cost, writtenOff: writtenOff.toString() },
        'the available balance could not cover the cost; the rest was written off',
      );
    }
  }
  log.debug({ cost: outcome.result.cost, replayed: outcome.replayed }, 'settle');
  return outcome.result;
}

/** One item's answer in a batched call: its result, or the error it would have failed with. */
export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: ItemError };

/**
 * Runs every item on its own (they still share ledger batches), so one item's failure is that
 * item's answer and never fails the others. Failures are logged as the call would log them.
 */
function eachItem<I extends { requestId: string }, O>(
  ctx: BillingContext,
  path: string,
  items: I[],
  run: (ctx: BillingContext, item: I) => Promise<O>,
): Promise<ItemOutcome<O>[]> {
  return Promise.all(
    items.map(async (item): Promise<ItemOutcome<O>> => {
      try {
        return { ok: true, value: await run(ctx, item) };
      } catch (cause) {
        const error = itemError(cause);
        const log = requestLog(ctx, item.requestId);
        if (error.code === 'INTERNAL_SERVER_ERROR') {
          log.error({ err: cause, path }, 'procedure failed');
        } else {
          log.info({ path, code: error.code, message: error.message }, 'procedure refused');
        }
        return { ok: false, error };
      }
    }),
  );
}

const items = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item).min(1).max(MAX_BATCH_SIZE) });

/**
 * The request path: authorize before a job is enqueued, settle or void after. `authorizeMany`
 * and `settleMany` take up to MAX_BATCH_SIZE calls in one: each tRPC call costs billing a fixed
 * amount of work (context, middleware, validation, response) whatever it carries, so a caller
 * gathering its concurrent calls into one pays that once.
 */
export const authorizationProcedures = {
  authorize: serviceProcedure
    .input(authorizeInput)
    .mutation(({ ctx, input }) => authorizeOne(ctx, input)),

  authorizeMany: serviceProcedure
    .input(items(authorizeInput))
    .mutation(({ ctx, input }) => eachItem(ctx, 'authorizeMany', input.items, authorizeOne)),

  settle: serviceProcedure.input(settleInput).mutation(({ ctx, input }) => settleOne(ctx, input)),

  settleMany: serviceProcedure
    .input(items(settleInput))
    .mutation(({ ctx, input }) => eachItem(ctx, 'settleMany', input.items, settleOne)),

  void: serviceProcedure.input(voidInput).mutation(async ({ ctx, input }) => {
    const outcome = await voidRequest(ctx.ledger, input);
    requestLog(ctx, input.requestId).info(
      { status: outcome.status, released: outcome.released },
      'request voided',
    );
    return outcome;
  }),
};
