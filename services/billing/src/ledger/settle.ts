import {
  AppError,
  costOf,
  formatAmount,
  newId,
  type SettleInput,
  type SettleResult,
  type Usage,
} from '@creditgate/contracts';
import type { Ledger } from './context.js';
import type { RequestMeta } from './recent.js';

export interface SettleOutcome {
  result: SettleResult;
  replayed: boolean;
  meta: RequestMeta;
  /** Minor units of the price beyond the hold (the prompt was under-estimated). */
  overshoot: bigint;
  /** Minor units of the price not burned: the available balance could not cover them. */
  writtenOff: bigint;
  /** Minor units burned. */
  cost: bigint;
}

/**
 * Burns what a request actually cost and releases its hold. Aborted and errored requests pay for
 * the tokens the provider reported like complete ones. A cost above the hold is burned as far as
 * the available balance allows (the provider charged for it) and recorded as overshoot; what no
 * balance covers, like the cost of a request whose hold expired before it settled, is written
 * off rather than taken from credits promised to other requests. Unmetered requests settle at
 * zero but still record their usage, so usage reports include them.
 */
export async function settle(ledger: Ledger, input: SettleInput): Promise<SettleOutcome> {
  const meta = await ledger.recent.lookup(ledger.pool, input.requestId);
  if (!meta) throw new AppError('not_found', `request ${input.requestId} was never authorized`);

  let cost = 0n;
  if (meta.metered) {
    const prices = await ledger.pricing.pricesFor(ledger.db, meta.pricingVersion!);
    cost = costOf(prices, input.usage);
  }

  const row = await ledger.settlements.submit({
    request_id: input.requestId,
    pricing_version: meta.pricingVersion,
    cost: cost.toString(),
    settle_status: input.status,
    usage_estimated: input.usageEstimated,
    input_tokens: input.usage.input,
    output_tokens: input.usage.output,
    cache_read_tokens: input.usage.cacheRead,
    cache_write_tokens: input.usage.cacheWrite,
    cache_write_1h_tokens: input.usage.cacheWrite1h,
    reasoning_tokens: input.usage.reasoning,
    usage: input.usage,
    release_entry_id: newId('entry'),
    burn_entry_id: newId('entry'),
  });
  ledger.recent.forget(input.requestId);

  switch (row.outcome) {
    case 'settled': {
      const burned = cost - row.writtenOff;
      return {
        result: {
          requestId: input.requestId,
          status: input.status,
          cost: formatAmount(burned),
          currency: meta.metered ? meta.currency : null,
        },
        replayed: false,
        meta,
        overshoot: row.overshoot,
        writtenOff: row.writtenOff,
        cost: burned,
      };
    }
    case 'missing':
      throw new AppError('not_found', `request ${input.requestId} was never authorized`);
    case 'stale':
      // The remembered pricing version disagreed with the table: settle from the table.
      return settle(ledger, input);
    case 'replay':
      return {
        ...(await replaySettle(ledger, input)),
        meta,
        overshoot: 0n,
        writtenOff: 0n,
        replayed: true,
      };
  }
}

function sameUsage(stored: Usage, given: Usage): boolean {
  return (Object.keys(given) as (keyof Usage)[]).every(
    (channel) => stored[channel] === given[channel],
  );
}

/** A request that is no longer open: the stored result for the same call, else a conflict. */
async function replaySettle(ledger: Ledger, input: SettleInput) {
  const stored = await ledger.db.request.findUnique({ where: { requestId: input.requestId } });
  if (!stored) throw new AppError('not_found', `request ${input.requestId} was never authorized`);

  if (stored.status !== 'settled') {
    throw new AppError(
      'idempotency_conflict',
      `request ${input.requestId} cannot be settled: it is ${stored.status}`,
    );
  }
  const storedUsage: Usage = {
    input: stored.inputTokens ?? 0,
    output: stored.outputTokens ?? 0,
    cacheRead: stored.cacheReadTokens ?? 0,
    cacheWrite: stored.cacheWriteTokens ?? 0,
    cacheWrite1h: stored.cacheWrite1hTokens ?? 0,
    reasoning: stored.reasoningTokens ?? 0,
  };
  const same =
    stored.settleStatus === input.status &&
    stored.usageEstimated === input.usageEstimated &&
    sameUsage(storedUsage, input.usage);
  if (!same) {
    throw new AppError(
      'idempotency_conflict',
      `request ${input.requestId} was already settled with different usage`,
    );
  }
  const cost = stored.cost ?? 0n;
  const result: SettleResult = {
    requestId: stored.requestId,
    status: input.status,
    cost: formatAmount(cost),
    currency: stored.currency,
  };
  return { result, cost };
}
